//! What a run would do, for `--dry-run`: built from the configuration and whatever is
//! already known about the user and the key, printed as text or JSON.
use super::{RegistrationPath, ResetPolicy, StationConfig, UnknownPinAction};
use crate::station::models::ModelTable;
use crate::station::pin::{PinRequirements, PinSource};
use crate::station::state::JobState;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// What the plan can be built from. Everything is optional: a plan without a key
/// describes the policy; with a key's getInfo it names the exact actions.
#[derive(Debug, Clone, Default)]
pub struct PlanInput {
    /// The user's UPN.
    pub user: Option<String>,
    /// The key, when one is plugged in.
    pub key: Option<PlanKey>,
    /// Enrolment date for the display name (today when absent).
    pub date: Option<chrono::NaiveDate>,
}

/// What the station knows about a key before touching it.
#[derive(Debug, Clone, Default)]
pub struct PlanKey {
    /// AAGUID.
    pub aaguid: Option<String>,
    /// Product name reported by the device, used when the AAGUID is unknown.
    pub product: Option<String>,
    /// Serial number, when exposed.
    pub serial: Option<String>,
    /// getInfo `clientPin` is true.
    pub pin_set: bool,
    /// getInfo `minPINLength` (4 when not reported).
    pub min_pin_length: u8,
    /// CTAP 2.1 authenticatorConfig is available (setMinPINLength / forcePINChange).
    pub supports_config: bool,
}

/// What a step changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Touches {
    /// Reads only.
    Nothing,
    /// Writes to the key.
    Key,
    /// Writes to Entra.
    Entra,
    /// Writes to both.
    KeyAndEntra,
    /// Shows or stores the PIN.
    Handover,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    /// The state the job reaches when this step is done.
    pub state: JobState,
    /// What happens, in words.
    pub action: String,
    /// What it changes.
    pub touches: Touches,
}

/// The tenant a plan targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanTenant {
    /// Configured name.
    pub name: String,
    /// Tenant id or domain, when configured.
    pub id: Option<String>,
    /// Registration path.
    pub registration: RegistrationPath,
    /// Graph base URL.
    pub graph: String,
}

/// A dry-run description of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Target tenant, if configured.
    pub tenant: Option<PlanTenant>,
    /// User, if known.
    pub user: Option<String>,
    /// Display name the key would get, when the key is known.
    pub display_name: Option<String>,
    /// Journal file.
    pub journal: PathBuf,
    /// The steps, in order.
    pub steps: Vec<PlanStep>,
    /// Things the operator should know before running it.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Describe a job under `cfg` for `input`. Never fails: problems become warnings.
    pub fn build(cfg: &StationConfig, models: &ModelTable, state_dir: &Path, input: &PlanInput) -> Plan {
        let mut steps = Vec::new();
        let mut warnings = Vec::new();
        let mut step = |state, touches, action: String| steps.push(PlanStep { state, action, touches });
        let tenant = cfg.tenant();
        let registration = tenant.map(|t| t.registration).unwrap_or_default();
        if let Err(e) = cfg.require_tenant() {
            warnings.push(e);
        }
        let who = input.user.clone().unwrap_or_else(|| "the user".to_string());
        let journal = cfg.journal.resolve(state_dir);

        step(JobState::Arrived, Touches::Nothing, format!("record the job in {}", journal.display()));
        step(
            JobState::Inspected,
            Touches::Nothing,
            format!("read the key's info (AAGUID, PIN state, minimum PIN length, resident credentials); look up {who} and check that the tenant's FIDO2 policy allows this key model"),
        );

        // Reset.
        let pin_set = input.key.as_ref().map(|k| k.pin_set);
        let reset = match (cfg.reset.policy, pin_set) {
            (ResetPolicy::Always, _) | (ResetPolicy::IfPinSet, Some(true)) => Some("reset the key, erasing every credential on it (touch it within 10 seconds of plugging it in)".to_string()),
            (ResetPolicy::IfPinSet, None) => Some("reset the key if it already has a PIN (touch it within 10 seconds of plugging it in)".to_string()),
            (ResetPolicy::IfPinSet, Some(false)) | (ResetPolicy::Never, Some(false)) => None,
            (ResetPolicy::Never, _) => {
                let what = match cfg.reset.if_pin_unknown {
                    UnknownPinAction::Refuse => "stop and list the key for an operator",
                    UnknownPinAction::Ask => "ask for the key's current PIN",
                };
                Some(format!("never reset: if the key already has a PIN, {what}"))
            }
        };
        if let Some(r) = reset {
            step(JobState::Prepared, Touches::Key, r);
        }

        // PIN.
        let key_min = input.key.as_ref().map(|k| k.min_pin_length).unwrap_or(4);
        let tenant_min = tenant.and_then(|t| t.min_pin_length);
        match PinRequirements::new(&cfg.pin, key_min, tenant_min) {
            Ok(req) => {
                let kind = format!("{:?}", req.alphabet).to_lowercase();
                let pin = match cfg.pin.source {
                    PinSource::Random => format!("set a random {}-character {kind} PIN", req.generated_length),
                    PinSource::UserAtDesk => format!("ask {who} to choose a {kind} PIN of at least {} characters ({}) and set it", req.min_length, req.min_length_source.explain()),
                };
                step(JobState::Prepared, Touches::Key, pin);
            }
            Err(e) => warnings.push(e.to_string()),
        }
        if let Some(m) = cfg.pin.set_min_length_on_key {
            step(JobState::Prepared, Touches::Key, format!("set the key's minimum PIN length to {m}"));
        }
        let no_config = input.key.as_ref().is_some_and(|k| !k.supports_config);
        if no_config && (cfg.pin.set_min_length_on_key.is_some() || cfg.pin.force_change) {
            warnings.push("this key has no CTAP 2.1 authenticatorConfig: the minimum PIN length and forced PIN change cannot be set on it".into());
        }

        // Registration.
        match registration {
            RegistrationPath::Graph => {
                let (api, challenge) = match tenant {
                    Some(t) if t.api_version == super::ApiVersion::Beta => ("beta", format!("{} minutes", t.challenge_timeout_minutes.unwrap_or(5))),
                    _ => ("v1.0", "5 minutes".to_string()),
                };
                step(JobState::Registered, Touches::Nothing, format!("ask Graph {api} for creation options (challenge valid {challenge})"));
                step(JobState::Registered, Touches::Key, "make a discoverable credential for login.microsoft.com on the key (touch it)".into());
            }
            RegistrationPath::Browser => {
                let once = if cfg.tap.one_time { "one-time" } else { "multi-use" };
                step(
                    JobState::Registered,
                    Touches::Entra,
                    format!("issue a {once} Temporary Access Pass valid {} minutes (replaces any TAP {who} has)", cfg.tap.registration_lifetime_minutes),
                );
                let mode = if cfg.browser.headless { "headless Chromium" } else { "Chromium" };
                step(
                    JobState::Registered,
                    Touches::KeyAndEntra,
                    format!("sign in as {who} in {mode} with the TAP and add the key under Security info (touch it)"),
                );
            }
        }

        let display_name = input.key.as_ref().map(|k| {
            let model = k.aaguid.as_deref().and_then(|a| models.lookup(a));
            let di = super::DisplayNameInput {
                model_name: model.map(|m| m.name.clone()).or_else(|| k.product.clone()),
                model_short: model.map(|m| m.short.clone()),
                vendor: model.map(|m| m.vendor.clone()),
                serial: k.serial.clone(),
                aaguid: k.aaguid.clone(),
                upn: input.user.clone(),
                date: Some(input.date.unwrap_or_else(|| chrono::Utc::now().date_naive())),
            };
            cfg.display_name.template.render(&di)
        });
        let shown = display_name.clone().unwrap_or_else(|| format!("a name from \"{}\"", cfg.display_name.template));
        if registration == RegistrationPath::Graph {
            step(JobState::Registered, Touches::Entra, format!("register the credential for {who} as \"{shown}\""));
        }
        step(JobState::Verified, Touches::Nothing, format!("check that Entra lists the new passkey for {who}"));

        if cfg.pin.force_change {
            step(JobState::HandedOver, Touches::Key, "make the key demand a new PIN on first use".into());
        }
        if cfg.tap.handover {
            let once = if cfg.tap.one_time { "one-time" } else { "multi-use" };
            step(JobState::HandedOver, Touches::Entra, format!("issue a {once} Temporary Access Pass valid {} minutes for {who}'s first sign-in", cfg.tap.lifetime_minutes));
        }
        if cfg.pin.source == PinSource::Random {
            if !cfg.handover.recipients.is_empty() {
                step(JobState::HandedOver, Touches::Handover, format!("seal the PIN to {} age recipient(s) in the journal", cfg.handover.recipients.len()));
            }
            if cfg.handover.show_once {
                step(JobState::HandedOver, Touches::Handover, "show the PIN once on a handover slip".into());
            }
        } else {
            step(JobState::HandedOver, Touches::Handover, "print a handover slip without the PIN (the user chose it)".into());
        }
        step(JobState::Done, Touches::Nothing, "wait for the key to be removed".into());

        Plan {
            tenant: tenant.map(|t| PlanTenant { name: cfg.use_tenant.clone(), id: t.id.clone(), registration: t.registration, graph: t.graph_base_url() }),
            user: input.user.clone(),
            display_name,
            journal,
            steps,
            warnings,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Dry run: nothing is written to the key or to Entra.")?;
        match &self.tenant {
            Some(t) => writeln!(f, "Tenant:   {} ({}), registration via {}, {}", t.name, t.id.as_deref().unwrap_or("id not set"), t.registration.as_str(), t.graph)?,
            None => writeln!(f, "Tenant:   not configured")?,
        }
        if let Some(u) = &self.user {
            writeln!(f, "User:     {u}")?;
        }
        if let Some(d) = &self.display_name {
            writeln!(f, "Key name: {d}")?;
        }
        for (i, s) in self.steps.iter().enumerate() {
            let mark = match s.touches {
                Touches::Nothing => "   ",
                Touches::Key => "key",
                Touches::Entra => "ent",
                Touches::KeyAndEntra => "k+e",
                Touches::Handover => "pin",
            };
            writeln!(f, "{:>2}. [{mark}] {:<12} {}", i + 1, s.state.as_str(), s.action)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::config::TenantConfig;

    #[test]
    fn plan_follows_policy_and_key_facts() {
        let mut cfg = StationConfig {
            tenant: Some(TenantConfig { id: Some("contoso.example".into()), client_id: Some("11111111-2222-3333-4444-555555555555".into()), ..Default::default() }),
            ..Default::default()
        };
        cfg.pin.force_change = true;
        let models = ModelTable::builtin();
        let key = PlanKey {
            aaguid: Some("2fc0579f-8113-47ea-b116-bb5a8db9202a".into()),
            serial: Some("12345678".into()),
            pin_set: true,
            min_pin_length: 10,
            supports_config: true,
            ..Default::default()
        };
        let plan = Plan::build(&cfg, &models, Path::new("/state"), &PlanInput { user: Some("ada@contoso.example".into()), key: Some(key), date: None });
        assert_eq!(plan.display_name.as_deref(), Some("YubiKey 5 NFC 12345678"));
        let text = plan.to_string();
        assert!(text.contains("reset the key, erasing every credential"), "{text}");
        assert!(text.contains("random 10-character digits PIN"), "{text}");
        assert!(text.contains("demand a new PIN"), "{text}");
        assert!(text.contains("/state/journal.sqlite"), "{text}");
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["steps"][0]["state"], "arrived");
    }

    #[test]
    fn plan_without_tenant_warns() {
        let plan = Plan::build(&StationConfig::default(), &ModelTable::builtin(), Path::new("/s"), &PlanInput::default());
        assert!(plan.warnings.iter().any(|w| w.contains("no tenant")), "{:?}", plan.warnings);
        assert!(plan.steps.iter().any(|s| s.action.contains("if it already has a PIN")));
    }
}
