//! Tenant checks: sign-in, permissions, the TAP and FIDO2 policies, key restrictions
//! against the models the station expects. Reads only.
use super::{Area, Check, DoctorInput, Trouble};
use crate::ceremony::RegistrationPath;
use crate::entra::graph::{describe_missing, missing_access, EnforcementType, Fido2Policy, GraphClient, GraphError, MethodTarget, Operation, PlannedCall, PolicyState, TapPolicy};
use crate::entra::oauth::TokenClaims;
use crate::key::worker::KeyHandle;
use crate::station::config::{AttestationPreflight, SignInMethod, StationConfig, TenantConfig};
use crate::station::models::ModelTable;
use crate::station::pipeline::checks::{profile_accepts, restriction_refusal};
use crate::station::pipeline::{planned_calls, tap_needed};
use crate::station::setup::{model_table, Connection};

const T: Area = Area::Tenant;

/// What the tenant checks learnt, for the user and station checks.
pub struct TenantFindings {
    /// Graph, signed in.
    pub graph: GraphClient,
    /// The FIDO2 policy, when it could be read.
    pub fido2: Option<Fido2Policy>,
    /// The TAP policy, when it could be read.
    pub tap: Option<TapPolicy>,
    /// The registration path checked.
    pub path: RegistrationPath,
    /// The token's claims (permissions), when the token is a readable JWT.
    pub claims: Option<TokenClaims>,
}

/// Where to change a method's policy.
const FIDO2_BLADE: &str = "Entra admin center > Protection > Authentication methods > Policies > Passkey (FIDO2)";
const TAP_BLADE: &str = "Entra admin center > Protection > Authentication methods > Policies > Temporary Access Pass";

fn graph_failure(id: &str, title: &str, what: &str, e: &GraphError) -> Check {
    let text = e.to_string();
    let (message, hint) = match text.split_once("\nhint: ") {
        Some((m, h)) => (m.to_string(), h.to_string()),
        None => (text, "check the app's permissions and the signed-in admin's role (docs/tenant-setup.md §3–4)".to_string()),
    };
    Check::fail(T, id, title, format!("cannot {what}: {message}"), hint, Trouble::Entra)
}

/// Sign in, read the policies, check them. `None` when the tenant could not be reached
/// (the failure is among the checks).
pub async fn check(input: &DoctorInput, out: &mut Vec<Check>) -> Option<TenantFindings> {
    let cfg = &input.config;
    let tenant = match cfg.require_tenant() {
        Ok(t) => t.clone(),
        Err(m) => {
            out.push(Check::fail(T, "tenant.config", "tenant configured", m, "see docs/configuration.md ([tenant]) and docs/tenant-setup.md", Trouble::Config));
            return None;
        }
    };
    let path = input.via.unwrap_or(tenant.registration);
    let (graph, claims) = sign_in(input, &tenant, out).await?;

    match &claims {
        Some(c) => out.extend(permission_checks(cfg, path, c)),
        None => out.push(Check::warn(
            T,
            "tenant.permissions",
            "permissions for the configured modes",
            "the token is not a readable JWT, so its permissions cannot be listed; Graph will answer for itself",
            "if a later check fails with 403, compare the app's API permissions with docs/tenant-setup.md §3",
        )),
    }

    let fido2 = match graph.fido2_policy().await {
        Ok(p) => Some(p),
        Err(e) => {
            out.push(graph_failure("fido2.read", "FIDO2 policy readable", "read the Passkey (FIDO2) policy", &e));
            None
        }
    };
    let needs_tap = tap_needed(cfg, path);
    let tap = match graph.tap_policy().await {
        Ok(p) => Some(p),
        Err(e) if needs_tap => {
            out.push(graph_failure("tap.read", "TAP policy readable", "read the Temporary Access Pass policy", &e));
            None
        }
        Err(e) => {
            let mut c = graph_failure("tap.read", "TAP policy readable", "read the Temporary Access Pass policy", &e);
            c.status = super::Status::Warn;
            c.trouble = None;
            c.detail.push_str(" (this configuration issues no TAP, so only `users show` and doctor need it)");
            out.push(c);
            None
        }
    };
    if let Some(t) = &tap {
        tap_checks(cfg, t, path, out);
    }
    if let Some(f) = &fido2 {
        fido2_checks(cfg, f, out);
        match model_table(cfg) {
            Ok(models) => {
                let expected = expected_models(input, &models).await;
                model_checks(cfg, f, &expected, out);
            }
            Err(e) => out.push(Check::fail(T, "fido2.models", "expected key models", e.to_string(), "fix the [[models]] entries (docs/configuration.md)", Trouble::Config)),
        }
    }
    Some(TenantFindings { graph, fido2, tap, path, claims })
}

async fn sign_in(input: &DoctorInput, tenant: &TenantConfig, out: &mut Vec<Check>) -> Option<(GraphClient, Option<TokenClaims>)> {
    const ID: &str = "tenant.sign_in";
    const TITLE: &str = "sign-in";
    let method = tenant.sign_in.method;
    let fix = match method {
        SignInMethod::DeviceCode => "run `keystation login --device-code` with this tenant, client id and --state-dir (docs/tenant-setup.md §1)",
        SignInMethod::ClientSecret => "check the client secret (sign_in.secret_env / secret_file) and that it has not expired; docs/tenant-setup.md §2.2",
        SignInMethod::Certificate => "check sign_in.certificate / private_key and that the certificate is uploaded to the app registration; docs/tenant-setup.md §2.2",
    };
    let connection = match Connection::new(&input.config, &input.connect) {
        Ok(c) => c,
        Err(e) => {
            out.push(Check::fail(T, ID, TITLE, e.to_string(), fix, Trouble::Config));
            return None;
        }
    };
    let tokens = match connection.token_provider(&input.state_dir) {
        Ok(t) => t,
        Err(e) => {
            out.push(Check::fail(T, ID, TITLE, e.to_string(), fix, Trouble::Entra));
            return None;
        }
    };
    let token = match tokens.access_token().await {
        Ok(t) => t,
        Err(e) => {
            out.push(Check::fail(T, ID, TITLE, format!("no access token: {e}"), fix, Trouble::Entra));
            return None;
        }
    };
    let claims = TokenClaims::peek(token.expose());
    let who = match &claims {
        Some(c) if c.is_app_only() => format!("app-only as {}", c.app_displayname.as_deref().map(|n| format!("\"{n}\"")).unwrap_or_else(|| tenant.client_id.clone().unwrap_or_default())),
        Some(c) => format!("delegated as {}", c.account().unwrap_or("an unnamed account")),
        None => "a token that is not a readable JWT (permissions cannot be listed)".to_string(),
    };
    out.push(Check::pass(T, ID, TITLE, format!("signed in to {} {who} ({})", tenant.id.as_deref().unwrap_or("?"), method_name(method))));
    match connection.graph_client(tokens) {
        Ok(g) => Some((g, claims)),
        Err(e) => {
            out.push(Check::fail(T, "tenant.graph", "Graph client", e.to_string(), "fix tenant.graph_host or the [network] settings (CA bundle, proxy)", Trouble::Config));
            None
        }
    }
}

/// The token's permissions against every Graph call the configured path makes
/// ([`planned_calls`], plus the group check the policies' group targets need), and
/// against the desk's commands (`users show`, `methods delete`, `reimage`).
fn permission_checks(cfg: &StationConfig, path: RegistrationPath, claims: &TokenClaims) -> Vec<Check> {
    let granted = claims.permissions();
    let (kind, fix_where) = if claims.is_app_only() {
        ("application permissions", "add them to the station app under API permissions > Microsoft Graph > Application permissions, then Grant admin consent")
    } else {
        ("delegated permissions", "add them to the operator app under API permissions > Microsoft Graph > Delegated permissions, grant admin consent, and sign in again")
    };
    let api = cfg.tenant().map(|t| t.api_version).unwrap_or_default();
    let mut calls = planned_calls(cfg, Some(path));
    calls.push(PlannedCall { operation: Operation::CheckMemberGroups, api });
    let mut out = Vec::new();
    let missing = missing_access(&calls, &granted);
    let role_note = if claims.is_app_only() { "" } else { "; a delegated sign-in also needs an admin role (Authentication Administrator or Privileged Authentication Administrator), which only Graph checks" };
    if missing.is_empty() {
        out.push(Check::pass(T, "tenant.permissions", "permissions for the configured modes", format!("the token's {kind} cover every call of a {path}-path enrollment{role_note}")));
    } else {
        out.push(Check::fail(
            T,
            "tenant.permissions",
            "permissions for the configured modes",
            format!("the token's {kind} lack {}: enrollments would stop at inspection", describe_missing(&missing)),
            format!("{fix_where} (docs/tenant-setup.md §3)"),
            Trouble::Entra,
        ));
    }
    let desk = [Operation::ListTaps, Operation::DeleteFido2Method].map(|operation| PlannedCall { operation, api });
    let missing = missing_access(&desk, &granted);
    if !missing.is_empty() {
        out.push(Check::warn(
            T,
            "tenant.permissions_desk",
            "permissions for users, methods and reimage",
            format!("the token's {kind} lack {}: `users show`, `methods delete` and `reimage` would be refused (enrolling is not affected)", describe_missing(&missing)),
            format!("{fix_where}, if the desk's key management is wanted (docs/tenant-setup.md §3)"),
        ));
    }
    out
}

fn method_name(m: SignInMethod) -> &'static str {
    match m {
        SignInMethod::DeviceCode => "device code",
        SignInMethod::ClientSecret => "client secret",
        SignInMethod::Certificate => "certificate",
    }
}

/// Targets in words: "all users", "2 groups (ids…)".
fn targets_text(include: &[MethodTarget], exclude: &[MethodTarget]) -> String {
    let list = |ts: &[MethodTarget]| -> String {
        if ts.iter().any(MethodTarget::is_all_users) {
            return "all users".into();
        }
        match ts.len() {
            0 => "nobody".into(),
            _ => ts.iter().map(|t| format!("{} {}", t.target_type.as_deref().unwrap_or("group"), t.id)).collect::<Vec<_>>().join(", "),
        }
    };
    let mut s = format!("includes {}", list(include));
    if !exclude.is_empty() {
        s.push_str(&format!("; excludes {}", list(exclude)));
    }
    s
}

fn tap_checks(cfg: &StationConfig, t: &TapPolicy, path: RegistrationPath, out: &mut Vec<Check>) {
    let needed = tap_needed(cfg, path);
    let why_needed = if path == RegistrationPath::Browser { "the browser registration path signs in with a TAP" } else { "tap.handover issues a TAP for the user's first sign-in" };
    // Enabled.
    if t.state == PolicyState::Enabled {
        out.push(Check::pass(T, "tap.enabled", "TAP method enabled", "Temporary Access Pass is enabled"));
    } else if needed {
        out.push(Check::fail(T, "tap.enabled", "TAP method enabled", format!("Temporary Access Pass is disabled, but {why_needed}"), format!("enable it in {TAP_BLADE}, or register through Graph without tap.handover"), Trouble::Policy));
    } else {
        out.push(Check::pass(T, "tap.enabled", "TAP method enabled", "Temporary Access Pass is disabled; this configuration issues no TAP (Graph path, no tap.handover)"));
    }
    // Targets.
    let targets = targets_text(&t.include_targets, &t.exclude_targets);
    if t.include_targets.is_empty() && needed {
        out.push(Check::fail(T, "tap.targets", "TAP targets", format!("the TAP policy {targets}: nobody can get a pass"), format!("add the rollout group to the targets in {TAP_BLADE}"), Trouble::Policy));
    } else {
        out.push(Check::pass(T, "tap.targets", "TAP targets", format!("the TAP policy {targets} (doctor --user UPN checks a user's scope)")));
    }
    // One-time rule against the configuration.
    let forced_once = t.is_usable_once == Some(true);
    if forced_once && !cfg.tap.one_time && needed {
        out.push(Check::fail(T, "tap.one_time", "TAP one-time setting", "the policy only allows one-time passes, but tap.one_time = false asks for reusable ones: Graph refuses them", "set tap.one_time = true in the station configuration", Trouble::Policy));
    } else if !forced_once && !cfg.tap.one_time && needed {
        out.push(Check::warn(T, "tap.one_time", "TAP one-time setting", "the station issues reusable passes (tap.one_time = false), which stay valid for their whole lifetime", "prefer tap.one_time = true for provisioning; a one-time pass must be used within 10 minutes of sign-in"));
    } else {
        let policy = if forced_once { "the policy forces one-time passes" } else { "the policy allows reusable passes" };
        out.push(Check::pass(T, "tap.one_time", "TAP one-time setting", format!("{policy}; the station asks for {} passes", if cfg.tap.one_time { "one-time" } else { "reusable" })));
    }
    // Lifetime range against the configured lifetimes.
    let (min, max) = t.lifetime_bounds();
    let mut wanted = Vec::new();
    if path == RegistrationPath::Browser {
        wanted.push(("tap.registration_lifetime_minutes", cfg.tap.registration_lifetime_minutes));
    }
    if cfg.tap.handover {
        wanted.push(("tap.lifetime_minutes", cfg.tap.lifetime_minutes));
    }
    let bad: Vec<String> = wanted.iter().filter(|(_, m)| !(min..=max).contains(m)).map(|(k, m)| format!("{k} = {m}")).collect();
    if !bad.is_empty() {
        out.push(Check::fail(
            T,
            "tap.lifetime",
            "TAP lifetime range",
            format!("the policy allows passes of {min} to {max} minutes, but {}: Graph refuses such passes", bad.join(" and ")),
            format!("set the TAP lifetime in the station configuration between {min} and {max} minutes (or widen the policy in {TAP_BLADE})"),
            Trouble::Policy,
        ));
    } else if wanted.is_empty() {
        out.push(Check::pass(T, "tap.lifetime", "TAP lifetime range", format!("the policy allows {min} to {max} minutes; this configuration issues no TAP")));
    } else {
        let w: Vec<String> = wanted.iter().map(|(k, m)| format!("{k} = {m}")).collect();
        out.push(Check::pass(T, "tap.lifetime", "TAP lifetime range", format!("{} within the policy's {min} to {max} minutes", w.join(", "))));
    }
}

fn fido2_checks(cfg: &StationConfig, f: &Fido2Policy, out: &mut Vec<Check>) {
    if f.state == PolicyState::Enabled {
        out.push(Check::pass(T, "fido2.enabled", "FIDO2 method enabled", "Passkey (FIDO2) is enabled"));
    } else {
        out.push(Check::fail(T, "fido2.enabled", "FIDO2 method enabled", "Passkey (FIDO2) is disabled: no key can be registered", format!("enable it in {FIDO2_BLADE}"), Trouble::Policy));
    }
    if f.is_self_service_registration_allowed == Some(true) {
        out.push(Check::pass(T, "fido2.self_service", "self-service setup allowed", "\"Allow self-service set up\" is on (the provisioning API needs it)"));
    } else {
        out.push(Check::fail(
            T,
            "fido2.self_service",
            "self-service setup allowed",
            "\"Allow self-service set up\" is off: Microsoft's FIDO2 provisioning API and Security info only work with it on (a documented known issue)",
            format!("turn it on in {FIDO2_BLADE} > Configure"),
            Trouble::Policy,
        ));
    }
    let targets = targets_text(&f.include_targets, &f.exclude_targets);
    if f.include_targets.is_empty() {
        out.push(Check::fail(T, "fido2.targets", "FIDO2 targets", format!("the FIDO2 policy {targets}: nobody can register a key"), format!("add the rollout group to the targets in {FIDO2_BLADE}"), Trouble::Policy));
    } else {
        out.push(Check::pass(T, "fido2.targets", "FIDO2 targets", format!("the FIDO2 policy {targets} (doctor --user UPN checks a user's scope)")));
    }
    let profiles = f.passkey_profiles.as_deref().unwrap_or(&[]);
    let enforced_by = if f.is_attestation_enforced == Some(true) {
        Some("the policy".to_string())
    } else {
        let names: Vec<String> = profiles.iter().filter(|p| p.attestation_enforcement.as_deref() == Some("registrationOnly")).map(|p| p.name.clone().unwrap_or_else(|| p.id.clone())).collect();
        (!names.is_empty()).then(|| format!("passkey profile(s) {}", names.join(", ")))
    };
    match enforced_by {
        None => out.push(Check::pass(T, "fido2.attestation", "attestation enforcement", "attestation is not enforced: any key model the restrictions allow can register")),
        Some(by) => {
            let preflight = match cfg.preflight.attestation {
                AttestationPreflight::Refuse => "preflight.attestation = \"refuse\" stops unknown models before the key is touched",
                AttestationPreflight::Warn => "preflight.attestation = \"warn\": an unknown model gets its PIN before Entra refuses it, and the job is parked",
            };
            out.push(Check::pass(
                T,
                "fido2.attestation",
                "attestation enforcement",
                format!("{by} enforces attestation: only keys whose packed attestation chains to a root in the FIDO Metadata Service register; {preflight}"),
            ));
        }
    }
}

/// A key model the station expects to image.
#[derive(Debug, Clone)]
pub struct ExpectedModel {
    /// AAGUID (canonical).
    pub aaguid: String,
    /// Name.
    pub name: String,
    /// Where the expectation comes from: `[[models]]` or the key at a path.
    pub origin: String,
    /// In keystation's built-in (MDS-derived) table.
    pub builtin: bool,
}

/// `[[models]]` and the keys plugged in now (getInfo only).
async fn expected_models(input: &DoctorInput, models: &ModelTable) -> Vec<ExpectedModel> {
    let builtin = ModelTable::builtin();
    let mut v: Vec<ExpectedModel> = Vec::new();
    for m in &input.config.models {
        if let Some(info) = models.lookup(&m.aaguid) {
            v.push(ExpectedModel { aaguid: info.aaguid.clone(), name: info.name.clone(), origin: "[[models]]".into(), builtin: builtin.lookup(&info.aaguid).is_some() });
        }
    }
    let Some(sources) = &input.sources else { return v };
    let Ok(keys) = sources.enumerate() else { return v };
    for d in keys {
        let Ok(io) = sources.open(&d) else { continue };
        let Ok(Ok(handle)) = tokio::time::timeout(std::time::Duration::from_secs(5), KeyHandle::open(d.clone(), io, Default::default())).await else { continue };
        let info = handle.info();
        let aaguid = info.aaguid_string();
        let known = models.lookup(&aaguid);
        if let Some(e) = v.iter_mut().find(|e| e.aaguid == aaguid) {
            e.origin.push_str(&format!(", the key at {}", d.path));
            continue;
        }
        v.push(ExpectedModel {
            aaguid: aaguid.clone(),
            name: known.map(|m| m.name.clone()).or_else(|| d.product.clone()).unwrap_or_else(|| "unknown model".into()),
            origin: format!("the key at {}", d.path),
            builtin: builtin.lookup(&aaguid).is_some(),
        });
    }
    v
}

/// Would any accepting rule take `aaguid`: the policy's key restrictions, or (profiles on)
/// at least one profile taking device-bound keys with this AAGUID.
fn allowed(f: &Fido2Policy, aaguid: &str) -> Result<(), String> {
    match f.passkey_profiles.as_deref().filter(|p| !p.is_empty()) {
        None => match &f.key_restrictions {
            Some(kr) if !kr.allows(aaguid) => Err(restriction_refusal(kr).into()),
            _ => Ok(()),
        },
        Some(profiles) if profiles.iter().any(|p| profile_accepts(p, aaguid)) => Ok(()),
        Some(_) => Err("no passkey profile accepts it".into()),
    }
}

fn attestation_enforced(f: &Fido2Policy) -> bool {
    f.is_attestation_enforced == Some(true)
        || f.passkey_profiles.as_deref().is_some_and(|ps| !ps.is_empty() && ps.iter().all(|p| p.attestation_enforcement.as_deref() == Some("registrationOnly")))
}

fn model_checks(cfg: &StationConfig, f: &Fido2Policy, expected: &[ExpectedModel], out: &mut Vec<Check>) {
    let restrictions = match (&f.key_restrictions, f.passkey_profiles.as_deref().filter(|p| !p.is_empty())) {
        (_, Some(p)) => format!("{} passkey profile(s)", p.len()),
        (Some(kr), None) if kr.is_enforced => format!("{} list of {} AAGUID(s)", if kr.enforcement_type == Some(EnforcementType::Allow) { "an allow" } else { "a block" }, kr.aa_guids.len()),
        _ => "no key restrictions".into(),
    };
    if expected.is_empty() {
        out.push(Check::warn(
            T,
            "fido2.key_restrictions",
            "key restrictions vs expected models",
            format!("the tenant has {restrictions}; no key is plugged in and no [[models]] are configured, so no model could be checked"),
            "plug in a key of each model you will image (or list them under [[models]]) and run doctor again",
        ));
        return;
    }
    let mut blocked = Vec::new();
    for m in expected {
        if let Err(why) = allowed(f, &m.aaguid) {
            blocked.push(format!("{} (AAGUID {}, from {}): {why}", m.name, m.aaguid, m.origin));
        }
    }
    if blocked.is_empty() {
        let names: Vec<String> = expected.iter().map(|m| format!("{} ({})", m.name, m.origin)).collect();
        out.push(Check::pass(T, "fido2.key_restrictions", "key restrictions vs expected models", format!("the tenant has {restrictions}; allowed: {}", names.join("; "))));
    } else {
        out.push(Check::fail(
            T,
            "fido2.key_restrictions",
            "key restrictions vs expected models",
            format!("the tenant has {restrictions} and refuses: {}", blocked.join("; ")),
            format!("use key models the tenant allows, or add their AAGUIDs in {FIDO2_BLADE} > Configure > Key restrictions"),
            Trouble::Policy,
        ));
    }
    if attestation_enforced(f) {
        let zero = "00000000-0000-0000-0000-000000000000";
        let doubtful: Vec<String> = expected
            .iter()
            .filter(|m| m.aaguid == zero || !m.builtin)
            .map(|m| format!("{} (AAGUID {}, from {})", m.name, m.aaguid, m.origin))
            .collect();
        if doubtful.is_empty() {
            out.push(Check::pass(T, "fido2.attestation_models", "attested models", "every expected model is in keystation's table of FIDO-certified (Metadata Service) models"));
        } else {
            let text = format!(
                "attestation is enforced and these models are not in keystation's table of FIDO-certified models, so Entra may not trust their attestation root: {}",
                doubtful.join("; ")
            );
            let fix = if cfg.preflight.attestation == AttestationPreflight::Refuse {
                "check the model is in the FIDO Metadata Service; keystation will refuse it before touching the key (preflight.attestation = \"refuse\")".to_string()
            } else {
                "check the model is in the FIDO Metadata Service, or set preflight.attestation = \"refuse\" so such keys are refused before they get a PIN".to_string()
            };
            out.push(Check::warn(T, "fido2.attestation_models", "attested models", text, fix));
        }
    }
}
