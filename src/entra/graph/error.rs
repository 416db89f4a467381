//! `GraphError`: everything an operator or a support ticket needs about a failed Graph
//! call (HTTP status, Graph error code and message, `request-id`, `client-request-id`)
//! plus a classification with a concrete hint.
//!
//! Graph returns `400 badRequest` for most policy refusals, so the classification
//! looks at the status, the code and, where Microsoft gives nothing better, well-known
//! phrases of the message. Unknown messages stay `BadRequest` with the text shown.
use super::operation::Operation;
use super::ApiVersion;
use std::fmt;
use std::time::Duration;

/// What kind of failure this is; decides the hint and the CLI exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphErrorKind {
    /// 401: the token was missing, expired, revoked or for another tenant/cloud.
    Unauthenticated,
    /// 403: the app or the signed-in admin lacks a permission or role.
    MissingPermission,
    /// 404 on a user: no such user.
    UserNotFound,
    /// 404 on a method id: no such TAP or FIDO2 method.
    MethodNotFound,
    /// A user search found several users.
    AmbiguousUser {
        /// How many matched.
        count: usize,
    },
    /// The user is not targeted by the method's policy (or excluded, or the method is off
    /// for them).
    UserOutsidePolicy,
    /// The TAP lifetime is outside the policy's bounds.
    TapLifetimeOutOfBounds {
        /// Policy minimum, when the service said it.
        min: Option<u32>,
        /// Policy maximum, when the service said it.
        max: Option<u32>,
    },
    /// A multi-use TAP was asked for but the policy allows one-time passes only.
    TapOneTimeOnly,
    /// The FIDO2 policy's "Allow self-service set up" is off (the provisioning API's known
    /// prerequisite).
    SelfServiceSetupOff,
    /// The FIDO2 (passkey) method is disabled in the tenant.
    Fido2MethodDisabled,
    /// The attestation was refused (enforced attestation, untrusted chain, format).
    AttestationRefused,
    /// The key model (AAGUID) is blocked by key restrictions or passkey profiles.
    KeyRestricted,
    /// The challenge was unknown, expired or already used.
    ChallengeRejected,
    /// The credential is already registered for the user.
    CredentialAlreadyRegistered,
    /// 429 after all retries (or a Retry-After too long to wait).
    Throttled,
    /// 5xx after all retries.
    ServiceUnavailable,
    /// Another 400.
    BadRequest,
    /// We refused to send the call (invalid argument).
    InvalidInput,
    /// No token could be obtained.
    TokenAcquisition,
    /// No HTTP response (network, TLS, timeout).
    Transport,
    /// The response could not be understood.
    UnexpectedResponse,
    /// Anything else.
    Other,
}

/// A failed Graph call.
#[derive(Clone)]
pub struct GraphError {
    /// What was being done.
    pub operation: Operation,
    /// The classification.
    pub kind: GraphErrorKind,
    /// HTTP status, if a response came back.
    pub status: Option<u16>,
    /// Graph `error.code`.
    pub code: Option<String>,
    /// Graph `error.message`, or our own description.
    pub message: String,
    /// The service's `request-id`.
    pub request_id: Option<String>,
    /// Our `client-request-id`.
    pub client_request_id: Option<String>,
    /// The service's Retry-After, when it was too long to sit through.
    pub retry_after: Option<Duration>,
    /// The user the call was about.
    pub user: Option<String>,
    /// Permissions the token carried (from its claims, for 403 hints).
    pub token_permissions: Option<Vec<String>>,
    /// API version of the call.
    pub api_version: ApiVersion,
}

impl GraphError {
    pub(crate) fn local(operation: Operation, kind: GraphErrorKind, message: impl Into<String>) -> GraphError {
        GraphError {
            operation,
            kind,
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
            client_request_id: None,
            retry_after: None,
            user: None,
            token_permissions: None,
            api_version: ApiVersion::V1,
        }
    }

    /// True when the tenant's policy (not a bug or an outage) said no.
    pub fn is_policy_refusal(&self) -> bool {
        matches!(
            self.kind,
            GraphErrorKind::UserOutsidePolicy
                | GraphErrorKind::TapLifetimeOutOfBounds { .. }
                | GraphErrorKind::TapOneTimeOnly
                | GraphErrorKind::SelfServiceSetupOff
                | GraphErrorKind::Fido2MethodDisabled
                | GraphErrorKind::AttestationRefused
                | GraphErrorKind::KeyRestricted
        )
    }

    /// Worth trying again later (throttling, outage, network).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, GraphErrorKind::Throttled | GraphErrorKind::ServiceUnavailable | GraphErrorKind::Transport)
    }

    /// What the operator should do about it.
    pub fn hint(&self) -> String {
        let user = self.user.as_deref().unwrap_or("the user");
        match &self.kind {
            GraphErrorKind::Unauthenticated => {
                "Graph refused the access token (expired, revoked, or issued for another tenant or cloud); run keystation login again".into()
            }
            GraphErrorKind::MissingPermission => {
                let access = self.operation.required_access(self.api_version);
                let mut h = format!(
                    "grant the Microsoft Graph permission {} (or {}) to the app registration and grant admin consent",
                    access.least.join(" + "),
                    if access.alternatives.is_empty() { "nothing broader".to_string() } else { access.alternatives.join(" or ") }
                );
                if !access.delegated_roles.is_empty() {
                    h.push_str(&format!("; for a delegated (device-code) sign-in the admin also needs the role {}", access.delegated_roles.join(" or ")));
                }
                if let Some(p) = &self.token_permissions {
                    if p.is_empty() {
                        h.push_str("; the token carries no permissions at all");
                    } else {
                        h.push_str(&format!("; the token carries: {}", p.join(" ")));
                    }
                }
                h
            }
            GraphErrorKind::UserNotFound => format!("no user '{user}' in this tenant: check the spelling (UPN, object id or mail) and that the account exists and has replicated"),
            GraphErrorKind::MethodNotFound => format!("{user} has no such authentication method (already deleted?); list the methods to see what exists"),
            GraphErrorKind::AmbiguousUser { count } => format!("{count} users match '{user}'; use the UPN or object id instead"),
            GraphErrorKind::UserOutsidePolicy if self.operation.is_fido2() => format!(
                "{user} is not in scope of the Passkey (FIDO2) policy: in Entra admin center > Authentication methods > Passkey (FIDO2), enable it and add a group containing {user} to the targets (and make sure no exclude group holds them)"
            ),
            GraphErrorKind::UserOutsidePolicy => format!(
                "{user} is not in scope of the Temporary Access Pass policy, or TAP is disabled: in Entra admin center > Authentication methods > Temporary Access Pass, enable it and include a group containing {user} (and make sure no exclude group holds them); guests cannot get a TAP"
            ),
            GraphErrorKind::TapLifetimeOutOfBounds { min, max } => match (min, max) {
                (Some(min), Some(max)) => format!("the tenant's TAP policy allows lifetimes between {min} and {max} minutes; choose a lifetime in that range or change the policy"),
                _ => "the TAP lifetime is outside the tenant policy's minimum/maximum (defaults 60 and 480 minutes); read the TAP policy for the bounds".into(),
            },
            GraphErrorKind::TapOneTimeOnly => "the TAP policy only allows one-time passes: ask for a one-time pass or change the policy".into(),
            GraphErrorKind::SelfServiceSetupOff => "the FIDO2 provisioning API only works when the Passkey (FIDO2) policy has \"Allow self-service set up\" turned on (a documented known issue): turn it on in Authentication methods > Passkey (FIDO2) > Configure".into(),
            GraphErrorKind::Fido2MethodDisabled => "the Passkey (FIDO2) authentication method is disabled in this tenant: enable it in Entra admin center > Authentication methods > Passkey (FIDO2)".into(),
            GraphErrorKind::AttestationRefused => "the tenant enforces attestation and refused this key's attestation: use a FIDO2-certified key model listed in the FIDO metadata service, or switch off \"Enforce attestation\"".into(),
            GraphErrorKind::KeyRestricted => "this key model (AAGUID) is not allowed by the tenant's key restrictions or passkey profiles: use an allowed model or add its AAGUID to the allow list".into(),
            GraphErrorKind::ChallengeRejected => "the FIDO2 challenge was unknown, expired or already used: get fresh creation options and register within their timeout".into(),
            GraphErrorKind::CredentialAlreadyRegistered => format!("this key's credential is already registered for {user}; delete the old registration first or reset the key"),
            GraphErrorKind::Throttled => match self.retry_after {
                Some(d) => format!("Graph is throttling this app; wait {} s before trying again", d.as_secs()),
                None => "Graph is throttling this app; wait a few minutes and try again, or lower the station's parallelism".into(),
            },
            GraphErrorKind::ServiceUnavailable => "Microsoft Graph is temporarily unavailable; try again in a few minutes".into(),
            GraphErrorKind::BadRequest => "Graph refused the request; the message above says why".into(),
            GraphErrorKind::InvalidInput => "fix the value and try again".into(),
            GraphErrorKind::TokenAcquisition => "signing in failed; see the message above, then run keystation login again".into(),
            GraphErrorKind::Transport => "check the network, proxy settings, CA bundle and the Graph host (national cloud?)".into(),
            GraphErrorKind::UnexpectedResponse => "Graph answered something unexpected; retry, and report it with the request ids if it persists".into(),
            GraphErrorKind::Other => "see the message above".into(),
        }
    }
}

impl fmt::Debug for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphError")
            .field("operation", &self.operation)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("request_id", &self.request_id)
            .field("client_request_id", &self.client_request_id)
            .finish()
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {}", self.operation.describe())?;
        if let Some(u) = &self.user {
            write!(f, " for {u}")?;
        }
        f.write_str(": ")?;
        if let Some(s) = self.status {
            write!(f, "HTTP {s} ")?;
        }
        if let Some(c) = &self.code {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.message)?;
        if self.request_id.is_some() || self.client_request_id.is_some() {
            write!(
                f,
                " (request-id {}, client-request-id {})",
                self.request_id.as_deref().unwrap_or("-"),
                self.client_request_id.as_deref().unwrap_or("-")
            )?;
        }
        write!(f, "\nhint: {}", self.hint())
    }
}

impl std::error::Error for GraphError {}

/// Classify a Graph error answer.
pub(crate) fn classify(operation: Operation, status: u16, code: Option<&str>, message: &str, user: Option<&str>) -> GraphErrorKind {
    let m = message.to_ascii_lowercase();
    let code = code.unwrap_or("").to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    match status {
        401 => return GraphErrorKind::Unauthenticated,
        404 => {
            if operation.addresses_a_method() && !user.is_some_and(|u| m.contains(&u.to_ascii_lowercase())) {
                return GraphErrorKind::MethodNotFound;
            }
            return GraphErrorKind::UserNotFound;
        }
        429 => return GraphErrorKind::Throttled,
        500..=599 => return GraphErrorKind::ServiceUnavailable,
        _ => {}
    }
    // Policy refusals come back as 400 (sometimes 403) with badRequest-like codes, so
    // the message is all there is.
    if status == 400 || status == 403 || status == 409 {
        if has(&["lifetimeinminutes"]) {
            let (min, max) = bounds_in(message);
            return GraphErrorKind::TapLifetimeOutOfBounds { min, max };
        }
        if has(&["self-service", "selfservice", "self service", "isselfserviceregistrationallowed"]) {
            return GraphErrorKind::SelfServiceSetupOff;
        }
        if has(&["usercredentialpolicy", "not in scope", "not targeted", "not in the scope", "not included in", "excluded from", "outside the scope", "external guest"]) {
            return GraphErrorKind::UserOutsidePolicy;
        }
        if operation.is_tap() && has(&["isusableonce", "one-time", "usable once", "multi-use", "multiple use"]) {
            return GraphErrorKind::TapOneTimeOnly;
        }
        if operation.is_fido2() {
            if has(&["attestation"]) {
                return GraphErrorKind::AttestationRefused;
            }
            if has(&["aaguid", "key restriction", "keyrestriction", "passkey profile", "not allowed by", "blocked"]) {
                return GraphErrorKind::KeyRestricted;
            }
            if has(&["already registered", "already exists", "duplicate"]) {
                return GraphErrorKind::CredentialAlreadyRegistered;
            }
            if has(&["challenge"]) {
                return GraphErrorKind::ChallengeRejected;
            }
            if has(&["disabled", "not enabled"]) {
                return GraphErrorKind::Fido2MethodDisabled;
            }
        }
    }
    match status {
        403 => GraphErrorKind::MissingPermission,
        400 | 409 | 422 => GraphErrorKind::BadRequest,
        _ if code == "toomanyrequests" => GraphErrorKind::Throttled,
        _ => GraphErrorKind::Other,
    }
}

/// The two numbers in "... valid range between 60 and 480 ...".
fn bounds_in(message: &str) -> (Option<u32>, Option<u32>) {
    let lower = message.to_ascii_lowercase();
    let Some(at) = lower.find("between") else { return (None, None) };
    let numbers: Vec<u32> = lower[at..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .take(2)
        .collect();
    match numbers.as_slice() {
        [a, b] => (Some(*a.min(b)), Some(*a.max(b))),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(classify(Operation::GetUser, 401, Some("InvalidAuthenticationToken"), "expired", None), GraphErrorKind::Unauthenticated);
        assert_eq!(classify(Operation::CreateTap, 403, Some("accessDenied"), "Request Authorization failed", None), GraphErrorKind::MissingPermission);
        assert_eq!(classify(Operation::GetUser, 404, Some("Request_ResourceNotFound"), "Resource 'x' does not exist", Some("x")), GraphErrorKind::UserNotFound);
        assert_eq!(classify(Operation::GetTap, 404, None, "Resource 'tap-1' does not exist", Some("u@x")), GraphErrorKind::MethodNotFound);
        assert_eq!(classify(Operation::GetTap, 404, None, "Resource 'u@x' does not exist", Some("u@x")), GraphErrorKind::UserNotFound);
        assert_eq!(classify(Operation::CreateTap, 429, Some("activityLimitReached"), "", None), GraphErrorKind::Throttled);
        assert_eq!(classify(Operation::CreateTap, 504, None, "", None), GraphErrorKind::ServiceUnavailable);
    }

    #[test]
    fn known_refusal_messages_are_recognised() {
        let k = classify(Operation::CreateTap, 400, Some("badRequest"), "Invalid LifetimeInMinutes specified. The valid range between 60 and 480.", None);
        assert_eq!(k, GraphErrorKind::TapLifetimeOutOfBounds { min: Some(60), max: Some(480) });
        let k = classify(Operation::CreateTap, 400, Some("badRequest"), "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].", None);
        assert_eq!(k, GraphErrorKind::UserOutsidePolicy);
        let k = classify(Operation::Fido2CreationOptions, 400, Some("badRequest"), "Self-service setup is not allowed by the FIDO2 policy", None);
        assert_eq!(k, GraphErrorKind::SelfServiceSetupOff);
        let k = classify(Operation::RegisterFido2Method, 400, Some("badRequest"), "Attestation is enforced and the statement could not be verified", None);
        assert_eq!(k, GraphErrorKind::AttestationRefused);
        let k = classify(Operation::RegisterFido2Method, 400, Some("badRequest"), "The AAGUID is blocked by key restrictions", None);
        assert_eq!(k, GraphErrorKind::KeyRestricted);
        let k = classify(Operation::Fido2CreationOptions, 400, Some("badRequest"), "The FIDO2 authentication method is disabled", None);
        assert_eq!(k, GraphErrorKind::Fido2MethodDisabled);
        let k = classify(Operation::CreateTap, 400, Some("badRequest"), "something new", None);
        assert_eq!(k, GraphErrorKind::BadRequest);
    }

    #[test]
    fn hints_name_permissions_and_bounds() {
        let mut e = GraphError::local(Operation::CreateTap, GraphErrorKind::MissingPermission, "denied");
        e.status = Some(403);
        e.token_permissions = Some(vec!["User.Read.All".into()]);
        let h = e.hint();
        assert!(h.contains("UserAuthMethod-TAP.ReadWrite.All") && h.contains("User.Read.All") && h.contains("Authentication Administrator"), "{h}");
        let e = GraphError::local(Operation::CreateTap, GraphErrorKind::TapLifetimeOutOfBounds { min: Some(60), max: Some(480) }, "x");
        assert!(e.hint().contains("between 60 and 480"));
        assert!(e.is_policy_refusal());
        let shown = e.to_string();
        assert!(shown.starts_with("cannot create a Temporary Access Pass: x") && shown.contains("hint:"), "{shown}");
    }
}
