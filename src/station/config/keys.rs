//! Keys that can be set from the environment (`KEYSTATION_*`) and the command line
//! (`--set key=value`), with the type each value must parse as.
//!
//! `tenant.*` keys apply to the tenant chosen by `use_tenant` (the `[tenant]` table or a
//! `[tenants.NAME]` table). Environment names are `KEYSTATION_` + the key in capitals
//! with dots as underscores: `pin.length` ↔ `KEYSTATION_PIN_LENGTH`.
use super::template::DisplayNameTemplate;
use toml::Value;

/// The value type of a settable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Free text.
    Text,
    /// A file system path.
    Path,
    /// A whole number ≥ 0 (ranges are checked with the rest of the configuration).
    Count,
    /// `true`/`false` (also `yes`/`no`, `1`/`0`, `on`/`off`).
    Bool,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// A list: comma- or space-separated.
    List,
    /// A display-name template.
    Template,
    /// A national cloud by name (`global`, `us-gov`, …, with the aliases of
    /// [`crate::entra::cloud::Cloud::from_name`]); stored under its one spelling.
    CloudName,
}

/// One key that may be set outside the file.
#[derive(Debug, Clone, Copy)]
pub struct SettableKey {
    /// Dotted key as in the file, `tenant.` meaning the selected tenant.
    pub path: &'static str,
    /// Value type.
    pub kind: ValueKind,
}

const fn key(path: &'static str, kind: ValueKind) -> SettableKey {
    SettableKey { path, kind }
}

use ValueKind::*;

/// Every key that can be set from the environment or with `--set`.
pub const SETTABLE_KEYS: &[SettableKey] = &[
    key("use_tenant", Text),
    key("tenant.id", Text),
    key("tenant.client_id", Text),
    key("tenant.cloud", CloudName),
    key("tenant.authority_host", Text),
    key("tenant.graph_host", Text),
    key("tenant.api_version", Choice(&["v1.0", "beta"])),
    key("tenant.registration", Choice(&["graph", "browser"])),
    key("tenant.challenge_timeout_minutes", Count),
    key("tenant.min_pin_length", Count),
    key("tenant.sign_in.method", Choice(&["device-code", "client-secret", "certificate"])),
    key("tenant.sign_in.secret_env", Text),
    key("tenant.sign_in.secret_file", Path),
    key("tenant.sign_in.certificate", Path),
    key("tenant.sign_in.private_key", Path),
    key("pin.source", Choice(&["random", "user-at-desk"])),
    key("pin.length", Count),
    key("pin.min_length", Count),
    key("pin.alphabet", Choice(&["digits", "alphanumeric"])),
    key("pin.set_min_length_on_key", Count),
    key("pin.force_change", Bool),
    key("display_name.template", Template),
    key("tap.registration_lifetime_minutes", Count),
    key("tap.one_time", Bool),
    key("tap.handover", Bool),
    key("tap.lifetime_minutes", Count),
    key("reset.policy", Choice(&["never", "if-pin-set", "always"])),
    key("reset.if_pin_unknown", Choice(&["refuse", "ask"])),
    key("handover.show_once", Bool),
    key("handover.recipients", List),
    key("handover.in_report", Bool),
    key("journal.path", Path),
    key("journal.url", Text),
    key("journal.password_env", Text),
    key("journal.password_file", Path),
    key("journal.ca_file", Path),
    key("journal.lease_s", Count),
    key("journal.station", Text),
    key("browser.headless", Bool),
    key("browser.chromium", Path),
    key("browser.chromedriver", Path),
    key("browser.fallback_to_manual", Bool),
    key("browser.mode", Choice(&["automatic", "manual"])),
    key("browser.flow", Text),
    key("browser.extra_args", List),
    key("browser.trust_spki", List),
    key("batch.concurrency", Count),
    key("preflight.attestation", Choice(&["warn", "refuse"])),
    key("kiosk.quit_sequence", Text),
    key("kiosk.hold_seconds", Count),
    key("network.ca_bundle", Path),
    key("network.ca_bundle_only", Bool),
    key("network.proxy", Text),
    key("network.timeout_seconds", Count),
    key("network.connect_timeout_seconds", Count),
    key("console.listen", Text),
    key("console.hostnames", List),
    key("console.tls_certificate", Path),
    key("console.tls_private_key", Path),
    key("console.password_file", Path),
    key("console.operator_pin_file", Path),
    key("console.exit_sequence_file", Path),
    key("console.session_idle_timeout_seconds", Count),
    key("console.session_lifetime_seconds", Count),
    key("deeplink.key_env", Text),
    key("deeplink.key_file", Path),
    key("deeplink.allow_unsigned", Bool),
];

/// `KEYSTATION_*` variables that belong to the command line itself (global options),
/// not to the configuration; the loader leaves them alone.
pub(crate) const CLI_ENV_VARS: &[&str] = &[
    "KEYSTATION_CONFIG",
    "KEYSTATION_STATE_DIR",
    "KEYSTATION_VIRTUAL",
    "KEYSTATION_VIRTUAL_STATE",
    "KEYSTATION_LOG_FILE",
    // `--ca-bundle` (the `network.ca_bundle` setting is KEYSTATION_NETWORK_CA_BUNDLE).
    "KEYSTATION_CA_BUNDLE",
    // The pipeline's crash-test hook (docs/pipeline.md), not a setting.
    "KEYSTATION_TEST_CRASH_AFTER",
];

/// The environment variable that sets `path`.
pub fn env_var_for(path: &str) -> String {
    format!("KEYSTATION_{}", path.to_ascii_uppercase().replace(['.', '-'], "_"))
}

/// The settable key with this dotted path.
pub(crate) fn find(path: &str) -> Option<&'static SettableKey> {
    SETTABLE_KEYS.iter().find(|k| k.path == path.trim())
}

/// The settable key an environment variable names.
pub(crate) fn find_env(var: &str) -> Option<&'static SettableKey> {
    SETTABLE_KEYS.iter().find(|k| env_var_for(k.path) == var)
}

impl ValueKind {
    /// Parse text from the environment or the command line into a TOML value, or say
    /// what was expected.
    pub(crate) fn parse(self, raw: &str) -> Result<Value, String> {
        let text = raw.trim();
        match self {
            Text | Path => Ok(Value::String(text.to_string())),
            Template => DisplayNameTemplate::parse(raw).map(|_| Value::String(raw.to_string())),
            CloudName => crate::entra::cloud::Cloud::from_name(text).map(|c| Value::String(c.name().to_string())).ok_or_else(|| {
                let names: Vec<&str> = crate::entra::cloud::Cloud::ALL.iter().map(|c| c.name()).collect();
                format!("`{text}` is not a cloud; use one of: {}", names.join(", "))
            }),
            Count => text
                .parse::<u32>()
                .map(|n| Value::Integer(i64::from(n)))
                .map_err(|_| format!("`{text}` is not a whole number")),
            Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Ok(Value::Boolean(true)),
                "false" | "no" | "0" | "off" => Ok(Value::Boolean(false)),
                _ => Err(format!("`{text}` is not true or false")),
            },
            Choice(words) => {
                let w = text.to_ascii_lowercase();
                if words.contains(&w.as_str()) {
                    Ok(Value::String(w))
                } else {
                    Err(format!("`{text}` is not allowed; use one of: {}", words.join(", ")))
                }
            }
            List => Ok(Value::Array(
                text.split([',', ' ', '\n', '\t'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_dotted_paths() {
        assert_eq!(env_var_for("pin.length"), "KEYSTATION_PIN_LENGTH");
        assert_eq!(env_var_for("tenant.sign_in.secret_env"), "KEYSTATION_TENANT_SIGN_IN_SECRET_ENV");
        assert_eq!(find_env("KEYSTATION_TENANT_CLIENT_ID").map(|k| k.path), Some("tenant.client_id"));
        for k in SETTABLE_KEYS {
            assert!(!CLI_ENV_VARS.contains(&env_var_for(k.path).as_str()), "{} collides with a CLI variable", k.path);
        }
    }

    #[test]
    fn values_parse_by_kind() {
        assert_eq!(Count.parse(" 8 "), Ok(Value::Integer(8)));
        assert!(Count.parse("-1").unwrap_err().contains("whole number"));
        assert_eq!(Bool.parse("Yes"), Ok(Value::Boolean(true)));
        assert!(Choice(&["a", "b"]).parse("c").unwrap_err().contains("use one of: a, b"));
        assert_eq!(
            List.parse("age1x, age1y age1z"),
            Ok(Value::Array(vec![Value::String("age1x".into()), Value::String("age1y".into()), Value::String("age1z".into())]))
        );
        assert!(Template.parse("{nope}").is_err());
        // One spelling stored, the old ones accepted.
        assert_eq!(CloudName.parse("usgov"), Ok(Value::String("us-gov".into())));
        assert_eq!(CloudName.parse("US-Gov-DoD"), Ok(Value::String("us-gov-dod".into())));
        assert!(CloudName.parse("mars").unwrap_err().contains("us-gov"));
    }
}
