//! Simulator configuration: the tenant seed, behaviour switches for the places where real
//! Entra behaviour is unknown or needs to be fast in tests, and fault injection.
use super::faults::FaultConfig;
use super::permissions::PermissionTable;
use super::seed::{CeremonyVariant, TenantSeed};
use super::SimulatorError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// Everything [`super::start`] needs.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The tenant (built-in demo tenant by default).
    pub tenant: TenantSeed,
    /// Behaviour switches.
    pub behaviour: Behaviour,
    /// Faults injected from the start (more can be set over `/_sim/faults`).
    pub faults: FaultConfig,
    /// Approve every device code as soon as it is issued.
    pub auto_approve_device_codes: bool,
    /// The account auto-approved device codes sign in as (UPN); default: the first user
    /// holding a directory role.
    pub auto_approve_account: Option<String>,
    /// Where to listen; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
    /// Host name of the "login.microsoft.com" stand-in (must resolve to the bind address
    /// and differ from the bind IP so that the two are separate sites for a browser).
    pub login_host: String,
    /// Extra trusted attestation roots (PEM), e.g. keystation's virtual-key CA.
    pub extra_trusted_roots: Vec<String>,
    /// Also serve the browser pages over HTTPS under Microsoft's host names
    /// (`login.microsoftonline.com`, `mysignins.microsoft.com`, `login.microsoft.com`)
    /// on a second loopback port, with a certificate from a throw-away test CA
    /// (`tls.rs`); the pages then use those URLs. Graph and the authority stay on `bind`.
    pub microsoft_hosts: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            tenant: TenantSeed::builtin(),
            behaviour: Behaviour::default(),
            faults: FaultConfig::default(),
            auto_approve_device_codes: false,
            auto_approve_account: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            login_host: "localhost".into(),
            extra_trusted_roots: vec![],
            microsoft_hosts: false,
        }
    }
}

impl SimulatorConfig {
    /// Read a tenant file: the seed sections plus optional `[behaviour]` and `[faults]`.
    pub fn from_toml_file(path: &Path) -> Result<SimulatorConfig, SimulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimulatorError::Config(format!("cannot read tenant file {}: {e}", path.display())))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            SimulatorError::Config(m) => SimulatorError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse tenant-file text (see [`Self::from_toml_file`]).
    pub fn from_toml_str(text: &str) -> Result<SimulatorConfig, SimulatorError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| SimulatorError::Config(format!("not valid TOML: {e}")))?;
        let behaviour = match table.remove("behaviour") {
            Some(v) => v.try_into().map_err(|e| SimulatorError::Config(format!("[behaviour]: {e}")))?,
            None => Behaviour::default(),
        };
        let faults = match table.remove("faults") {
            Some(v) => v.try_into().map_err(|e| SimulatorError::Config(format!("[faults]: {e}")))?,
            None => FaultConfig::default(),
        };
        let tenant: TenantSeed = toml::Value::Table(table)
            .try_into()
            .map_err(|e| SimulatorError::Config(format!("tenant seed: {e}")))?;
        tenant.validate().map_err(SimulatorError::Config)?;
        faults.validate().map_err(SimulatorError::Config)?;
        Ok(SimulatorConfig { tenant, behaviour, faults, ..SimulatorConfig::default() })
    }
}

/// What v1.0 `creationOptions` does with a `challengeTimeoutInMinutes` it does not support.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum V1ChallengeTimeout {
    /// 400: v1.0 has no such parameter (strict; catches clients that send it to v1.0).
    #[default]
    Reject,
    /// Ignore it and use the fixed 5 minutes.
    Ignore,
}

/// How `excludeCredentials[].id` is encoded in creationOptions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExcludeCredentialEncoding {
    /// Standard base64 with `+`, `/` and `=` padding (what real captures show).
    #[default]
    StandardBase64,
    /// base64url without padding (what v1.0 documents).
    Base64Url,
    /// base64url plus a trailing digit giving the padding count (what beta documents).
    Base64UrlPaddingDigit,
    /// Cycle through the three, one per credential, to exercise tolerant decoders.
    Mixed,
}

/// What a TAP create request without `isUsableOnce` gets (undocumented).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TapUsableOnceDefault {
    /// The policy's `isUsableOnce`.
    #[default]
    Policy,
    /// Always one-time.
    True,
    /// Multi-use unless the policy forces one-time.
    False,
}

/// Which Security-info UI the simulator's pages serve.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum SecurityInfoUi {
    /// Since Microsoft's August 2024 "Add sign-in method picker" update: a list of
    /// methods ("Passkey", ...) → Next → ceremony → "Let's name your passkey" → "Passkey
    /// created" → Done.
    #[default]
    #[serde(rename = "2026")]
    Ui2026,
    /// Before it: a combobox → "Security key" → Add → "USB device" → Next → ceremony →
    /// "Name your security key" → "You're all set" → Done.
    #[serde(rename = "2023")]
    Ui2023,
}

/// The "More information required" interrupt for every user (drift switch).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProofUpDrift {
    /// Only users flagged `proof_up_required` see it (mandatory).
    #[default]
    Off,
    /// Everyone; "Skip for now" lets the sign-in continue.
    Skippable,
    /// Everyone; no way past it.
    Mandatory,
}

/// The language of the simulator's pages.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum PageLocale {
    /// English (United States).
    #[default]
    #[serde(rename = "en-US")]
    EnUs,
    /// German (Germany).
    #[serde(rename = "de-DE")]
    DeDe,
}

/// Behaviour switches. Every field has a default (in brackets), so a tenant file's
/// `[behaviour]` table only names what it changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// Device code lifetime in seconds [900].
    pub device_code_expires_in_secs: u64,
    /// Minimum polling interval in seconds [5]; 0 disables `slow_down`.
    pub device_code_interval_secs: u64,
    /// Seconds a `slow_down` tells the client to add to its interval (RFC 8628) [5]. The
    /// required interval itself stays at `device_code_interval_secs`.
    pub slow_down_increment_secs: u64,
    /// Access token lifetime in seconds [3599].
    pub access_token_lifetime_secs: u64,
    /// A refresh token stops working once it has been exchanged [true].
    pub invalidate_rotated_refresh_tokens: bool,
    /// v1.0 creationOptions with `challengeTimeoutInMinutes` [reject].
    pub v1_challenge_timeout: V1ChallengeTimeout,
    /// Encoding of `excludeCredentials[].id` [standard_base64].
    pub exclude_credentials_encoding: ExcludeCredentialEncoding,
    /// POST fido2Methods refuses members Graph's schema lacks (`rawId`, `type`, ...) [true].
    pub reject_unknown_members: bool,
    /// POST fido2Methods accepts base64url with `=` padding [false].
    pub accept_padded_base64url: bool,
    /// Origins accepted in clientDataJSON on the Graph path [`https://login.microsoft.com`].
    pub accepted_origins: Vec<String>,
    /// The relying party id of the Graph provisioning API [`login.microsoft.com`].
    pub rp_id: String,
    /// Refuse clientDataJSON with `crossOrigin: true` on the Graph path [true].
    pub reject_cross_origin_client_data: bool,
    /// `isUsableOnce` for TAP create requests that omit it [policy].
    pub tap_usable_once_when_absent: TapUsableOnceDefault,
    /// Minutes a one-time-TAP sign-in may spend registering a key [10].
    pub one_time_tap_registration_window_minutes: u64,
    /// Show the "Stay signed in?" page after a TAP sign-in [true].
    pub show_kmsi: bool,
    /// Tenant-wide default `/fido/create` variant; a user's `ceremony` wins [same-tab].
    pub ceremony_variant: CeremonyVariant,
    /// Which Security-info UI the pages serve [2026]: `2026` (the "Add sign-in method"
    /// picker list since August 2024) or `2023` (the combobox → Add → USB device dialog).
    pub security_info_ui: SecurityInfoUi,
    /// UI drift: "Stay signed in?" No (`#idBtn_Back`) is an `<input type="button">` whose
    /// script submits the form, as in most copies of Microsoft's template [false: a
    /// submit input].
    pub kmsi_no_is_button: bool,
    /// UI drift: the 2026 picker lists "Passkey" only after "Show more options" [false].
    pub passkey_behind_show_more: bool,
    /// UI drift: after the pass is accepted, the interrupts — a skippable "More information
    /// required", "Stay signed in?" (twice) and "Pick an account" (a second sign-in
    /// prompt) — come in a random order [false: only the configured ones, proof-up first].
    pub interrupts_random_order: bool,
    /// UI drift: a Temporary Access Pass reaches sign-in only this many seconds after it
    /// was issued; until then the user name leads to the password view, and "Other ways
    /// to sign in" does not offer the pass [0].
    pub tap_sign_in_delay_secs: u64,
    /// UI drift: sign-in shows the password view first even when the pass is usable; the
    /// pass is under "Other ways to sign in" → "Use your Temporary Access Pass" [false].
    pub tap_behind_other_ways: bool,
    /// UI drift: "More information required" for every user after the pass [off]:
    /// `skippable` ("Skip for now", days remaining) or `mandatory` (no way past it). The
    /// user flag `proof_up_required` is always mandatory.
    pub proof_up: ProofUpDrift,
    /// UI drift: the language of the pages [en-US]; `de-DE` changes every visible text and
    /// nothing else.
    pub page_locale: PageLocale,
    /// UI drift: an interstitial no flow knows ("Review the updated terms", a Continue
    /// button) after the pass is accepted [false].
    pub unknown_interstitial: bool,
    /// Graph permission table.
    pub permissions: PermissionTable,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            device_code_expires_in_secs: 900,
            device_code_interval_secs: 5,
            slow_down_increment_secs: 5,
            access_token_lifetime_secs: 3599,
            invalidate_rotated_refresh_tokens: true,
            v1_challenge_timeout: V1ChallengeTimeout::Reject,
            exclude_credentials_encoding: ExcludeCredentialEncoding::StandardBase64,
            reject_unknown_members: true,
            accept_padded_base64url: false,
            accepted_origins: vec!["https://login.microsoft.com".into()],
            rp_id: "login.microsoft.com".into(),
            reject_cross_origin_client_data: true,
            tap_usable_once_when_absent: TapUsableOnceDefault::Policy,
            one_time_tap_registration_window_minutes: 10,
            show_kmsi: true,
            ceremony_variant: CeremonyVariant::SameTab,
            security_info_ui: SecurityInfoUi::Ui2026,
            kmsi_no_is_button: false,
            passkey_behind_show_more: false,
            interrupts_random_order: false,
            tap_sign_in_delay_secs: 0,
            tap_behind_other_ways: false,
            proof_up: ProofUpDrift::Off,
            page_locale: PageLocale::EnUs,
            unknown_interstitial: false,
            permissions: PermissionTable::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_file_may_carry_behaviour_and_faults() {
        let text = format!(
            "{}\n[behaviour]\ndevice_code_interval_secs = 1\n[faults]\nseed = 7\n[[faults.rules]]\nkind = \"throttle\"\ntarget = \"graph\"\nrate = 0.5\nretry_after_secs = 2\n",
            super::super::seed::BUILTIN_TENANT_TOML
        );
        let c = SimulatorConfig::from_toml_str(&text).expect("parses");
        assert_eq!(c.behaviour.device_code_interval_secs, 1);
        assert_eq!(c.faults.seed, 7);
        assert_eq!(c.faults.rules.len(), 1);
    }

    #[test]
    fn unknown_keys_are_reported() {
        let text = format!("{}\n[behaviour]\nno_such_switch = 1\n", super::super::seed::BUILTIN_TENANT_TOML);
        let e = SimulatorConfig::from_toml_str(&text).unwrap_err().to_string();
        assert!(e.contains("no_such_switch"), "{e}");
    }
}
