//! `/users/{id}/authentication/fido2Methods`: creationOptions, POST (real attestation
//! verification), list, get, delete.
use super::reply::{GraphError, GraphReply, GraphResult};
use super::GraphCtx;
use crate::entra::simulator::config::{ExcludeCredentialEncoding, V1ChallengeTimeout};
use crate::entra::simulator::registration;
use crate::entra::simulator::seed::PolicyState;
use crate::entra::simulator::state::directory::User;
use crate::entra::simulator::state::fido2::{Challenge, ChallengePurpose, RegisteredVia};
use crate::entra::simulator::state::TenantState;
use crate::entra::simulator::clock::graph_time;
use crate::entra::simulator::webauthn::{self, b64, Expectations, RegistrationInput, VerifyError};
use axum::http::StatusCode;
use chrono::Duration;
use rand::RngCore;
use serde_json::{json, Value};

fn context(ctx: &GraphCtx, user: &User, entity: bool) -> String {
    format!("{}/$metadata#users('{}')/authentication/fido2Methods{}", ctx.base(), user.id, if entity { "/$entity" } else { "" })
}

fn with_context(mut v: Value, c: String) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(c));
    }
    v
}

/// Why the provisioning API refuses this user (guest, method off, self-service off, not targeted).
pub fn provisioning_refusal(st: &TenantState, user: &User) -> Option<GraphError> {
    if user.guest {
        return Some(GraphError::bad_request("guestUser", "Passkeys cannot be provisioned for external guest users."));
    }
    if st.fido2_policy.state != PolicyState::Enabled {
        return Some(GraphError::bad_request("fido2Disabled", "The FIDO2 (passkey) authentication method is disabled in the authentication methods policy."));
    }
    if !st.fido2_policy.is_self_service_registration_allowed {
        return Some(GraphError::bad_request(
            "selfServiceRegistrationDisabled",
            "FIDO2 provisioning requires 'Allow self-service set up' (isSelfServiceRegistrationAllowed) to be enabled in the FIDO2 policy.",
        ));
    }
    if !st.fido2_applies(user) {
        return Some(GraphError::bad_request("userNotTargeted", "The user is not targeted by the FIDO2 (passkey) authentication method policy."));
    }
    None
}

/// A JWE-shaped opaque challenge string of a couple of kB, like Entra's.
pub fn new_server_challenge() -> String {
    let mut rng = rand::thread_rng();
    let mut rand_b64 = |n: usize| {
        let mut b = vec![0u8; n];
        rng.fill_bytes(&mut b);
        b64::b64url(&b)
    };
    let mut x5c = vec![0u8; 700];
    rand::thread_rng().fill_bytes(&mut x5c);
    let header = json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "typ": "JWT", "x5c": [b64::b64_standard(&x5c)]});
    let header = b64::b64url(header.to_string().as_bytes());
    format!("{header}.{}.{}.{}.{}", rand_b64(256), rand_b64(12), rand_b64(384), rand_b64(16))
}

/// Parse the challenge timeout from the function form or the query form.
fn timeout_minutes(ctx: &GraphCtx, fn_args: Option<&str>) -> Result<i64, GraphError> {
    let mut given: Option<String> = None;
    if let Some(args) = fn_args.filter(|a| !a.trim().is_empty()) {
        let (k, v) = args.split_once('=').ok_or_else(|| GraphError::bad_request("invalidFunctionParameter", format!("Invalid function parameters '{args}'.")))?;
        if !k.trim().eq_ignore_ascii_case("challengeTimeoutInMinutes") {
            return Err(GraphError::bad_request("invalidFunctionParameter", format!("Unknown function parameter '{}' for creationOptions.", k.trim())));
        }
        given = Some(v.trim().to_string());
    }
    if let Some(q) = ctx.query_ci("challengeTimeoutInMinutes") {
        given = given.or(Some(q));
    }
    match (ctx.version, given) {
        (_, None) => Ok(5),
        ("v1.0", Some(_)) if ctx.behaviour.v1_challenge_timeout == V1ChallengeTimeout::Ignore => Ok(5),
        ("v1.0", Some(_)) => Err(GraphError::bad_request(
            "challengeTimeoutNotSupported",
            "challengeTimeoutInMinutes is not supported in v1.0, where the challenge lifetime is a fixed 5 minutes; use the beta endpoint for a custom lifetime.",
        )),
        (_, Some(v)) => {
            let n: i64 = v.parse().map_err(|_| GraphError::bad_request("challengeTimeoutOutOfRange", format!("challengeTimeoutInMinutes '{v}' is not an integer.")))?;
            if !(5..=43200).contains(&n) {
                return Err(GraphError::bad_request(
                    "challengeTimeoutOutOfRange",
                    format!("challengeTimeoutInMinutes {n} is out of range; it must be between 5 and 43200."),
                ));
            }
            Ok(n)
        }
    }
}

/// `excludeCredentials[].id` in the configured encoding.
pub fn encode_exclude(id: &[u8], enc: ExcludeCredentialEncoding, index: usize) -> String {
    match enc {
        ExcludeCredentialEncoding::StandardBase64 => b64::b64_standard(id),
        ExcludeCredentialEncoding::Base64Url => b64::b64url(id),
        ExcludeCredentialEncoding::Base64UrlPaddingDigit => b64::b64url_padding_digit(id),
        ExcludeCredentialEncoding::Mixed => match index % 3 {
            0 => b64::b64_standard(id),
            1 => b64::b64url(id),
            _ => b64::b64url_padding_digit(id),
        },
    }
}

/// GET creationOptions.
pub fn creation_options(ctx: &GraphCtx, user: &User, fn_args: Option<&str>) -> GraphResult {
    let minutes = timeout_minutes(ctx, fn_args)?;
    let now = ctx.sim.clock.now();
    let mut st = ctx.sim.state();
    if let Some(e) = provisioning_refusal(&st, user) {
        return Err(e);
    }
    let challenge = new_server_challenge().into_bytes();
    let expires = now + Duration::minutes(minutes);
    st.prune(now);
    st.challenges.insert(
        challenge.clone(),
        Challenge { user_id: user.id.clone(), issued: now, expires, used: false, purpose: ChallengePurpose::Graph },
    );
    let exclude: Vec<Value> = st
        .methods_of(&user.id)
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"type": "public-key", "id": encode_exclude(&m.credential_id, ctx.behaviour.exclude_credentials_encoding, i), "transports": []}))
        .collect();
    let body = json!({
        "@odata.context": format!("{}/$metadata#microsoft.graph.webauthnCredentialCreationOptions", ctx.base()),
        "challengeTimeoutDateTime": graph_time(expires),
        "publicKey": {
            "challenge": b64::b64url(&challenge),
            "timeout": 60000,
            "attestation": "direct",
            "rp": {"id": ctx.behaviour.rp_id, "name": "Microsoft"},
            "user": {"id": b64::b64url(&user.user_handle), "name": user.upn, "displayName": user.display_name},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "excludeCredentials": exclude,
            "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"},
            "extensions": {"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": true, "credentialProtectionPolicy": "userVerificationOptional"},
        },
    });
    Ok(GraphReply::ok(body))
}

fn verify_error(e: VerifyError) -> GraphError {
    GraphError::bad_request(e.code, e.message)
}

fn unknown_member(name: &str, ty: &str) -> GraphError {
    GraphError::bad_request(
        "unknownProperty",
        format!("The property '{name}' does not exist on type 'microsoft.graph.{ty}'. Make sure to only use property names that are defined by the type or mark the type as open type."),
    )
}

fn check_members(obj: &serde_json::Map<String, Value>, allowed: &[&str], ty: &str) -> Result<(), GraphError> {
    match obj.keys().find(|k| !k.starts_with('@') && !allowed.contains(&k.as_str())) {
        Some(k) => Err(unknown_member(k, ty)),
        None => Ok(()),
    }
}

/// POST fido2Methods: verify the attestation for real, apply the policy, store.
pub fn register(ctx: &GraphCtx, user: &User) -> GraphResult {
    let missing = || GraphError::bad_request("missingEntity", "The request is missing a fido2AuthenticationMethod entity");
    let body: Value = serde_json::from_slice(ctx.body).map_err(|_| {
        GraphError::bad_request("invalidJson", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
    })?;
    let top = body.as_object().ok_or_else(missing)?;
    let pkc = top.get("publicKeyCredential").and_then(|v| v.as_object()).ok_or_else(missing)?;
    let response = pkc.get("response").and_then(|v| v.as_object());
    if ctx.behaviour.reject_unknown_members {
        check_members(top, &["displayName", "publicKeyCredential"], "fido2AuthenticationMethod")?;
        check_members(pkc, &["id", "response", "clientExtensionResults"], "webauthnPublicKeyCredential")?;
        if let Some(r) = response {
            check_members(r, &["clientDataJSON", "attestationObject"], "webauthnAuthenticatorAttestationResponse")?;
        }
    }
    let display_name = match top.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(GraphError::bad_request("invalidDisplayName", "displayName must be a string.")),
    };
    if let Some(n) = &display_name {
        let len = n.chars().count();
        if len > 30 {
            return Err(GraphError::bad_request("displayNameTooLong", format!("displayName is {len} characters long; at most 30 are allowed.")));
        }
    }
    let field = |v: Option<&Value>, name: &str| -> Result<Vec<u8>, GraphError> {
        let s = v.and_then(|v| v.as_str()).ok_or_else(|| GraphError::bad_request("missingProperty", format!("publicKeyCredential.{name} is required.")))?;
        let decoded = if ctx.behaviour.accept_padded_base64url { b64::decode_b64url_lenient(s) } else { b64::decode_b64url_strict(s) };
        decoded.ok_or_else(|| {
            GraphError::bad_request("invalidBase64Url", format!("publicKeyCredential.{name} is not base64url-encoded without padding (RFC 4648 §5)."))
        })
    };
    let credential_id = field(pkc.get("id"), "id")?;
    let client_data = field(response.and_then(|r| r.get("clientDataJSON")), "response.clientDataJSON")?;
    let attestation = field(response.and_then(|r| r.get("attestationObject")), "response.attestationObject")?;

    let now = ctx.sim.clock.now();
    let mut st = ctx.sim.state();
    if let Some(e) = provisioning_refusal(&st, user) {
        return Err(e);
    }
    let verified = {
        let expect = Expectations {
            rp_id: &ctx.behaviour.rp_id,
            origins: &ctx.behaviour.accepted_origins,
            allow_cross_origin: !ctx.behaviour.reject_cross_origin_client_data,
            trusted_roots: &st.trusted_roots,
            now,
        };
        let input = RegistrationInput { credential_id: &credential_id, client_data_json: &client_data, attestation_object: &attestation };
        let challenges = &st.challenges;
        webauthn::verify_registration(input, &expect, |c| registration::check_challenge(challenges, c, &user.id, ChallengePurpose::Graph, now))
            .map_err(verify_error)?
    };
    registration::admit(&st, user, &verified).map_err(verify_error)?;
    let name = display_name.unwrap_or_else(|| "Security key".to_string());
    let method = registration::store(&mut st, user, &verified, name, RegisteredVia::Graph, now);
    Ok(GraphReply::Json(StatusCode::CREATED, with_context(method.to_graph(), context(ctx, user, true))))
}

/// GET the list.
pub fn list(ctx: &GraphCtx, user: &User) -> GraphResult {
    let st = ctx.sim.state();
    let value: Vec<Value> = st.methods_of(&user.id).iter().map(|m| m.to_graph()).collect();
    Ok(GraphReply::ok(json!({"@odata.context": context(ctx, user, false), "value": value})))
}

/// GET one method.
pub fn get(ctx: &GraphCtx, user: &User, id: &str) -> GraphResult {
    let st = ctx.sim.state();
    let m = st.methods_of(&user.id).iter().find(|m| m.id == id).ok_or_else(|| GraphError::method_not_found(id))?;
    Ok(GraphReply::ok(with_context(m.to_graph(), context(ctx, user, true))))
}

/// DELETE one method.
pub fn delete(ctx: &GraphCtx, user: &User, id: &str) -> GraphResult {
    let mut st = ctx.sim.state();
    let list = st.fido2.entry(user.id.to_lowercase()).or_default();
    let before = list.len();
    list.retain(|m| m.id != id);
    if list.len() == before {
        return Err(GraphError::method_not_found(id));
    }
    Ok(GraphReply::NoContent)
}

/// GET `/authentication/methods`: password, FIDO2 and TAP methods.
pub fn all_methods(ctx: &GraphCtx, user: &User) -> GraphResult {
    let now = ctx.sim.clock.now();
    let st = ctx.sim.state();
    let mut value = vec![json!({
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": "28c10230-6103-485e-b985-444c60001490",
        "password": null,
        "createdDateTime": null,
    })];
    value.extend(st.methods_of(&user.id).iter().map(|m| m.to_graph()));
    if let Some(t) = st.tap_of(&user.id) {
        value.push(t.to_graph(now, st.tap_applies(user), false));
    }
    Ok(GraphReply::ok(json!({"@odata.context": format!("{}/$metadata#users('{}')/authentication/methods", ctx.base(), user.id), "value": value})))
}
