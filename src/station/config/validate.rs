//! Whole-configuration checks, run after layering. Every error names the key, where its
//! value came from and what is allowed.
use super::load::{ConfigError, Provenance};
use super::{ApiVersion, StationConfig, TenantConfig, DEFAULT_TENANT};
use crate::station::pin::{PinSource, CTAP_MAX_PIN_BYTES, CTAP_MIN_PIN_CODEPOINTS};

struct Checker<'a> {
    prov: &'a Provenance,
}

impl Checker<'_> {
    fn fail(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { origin: self.prov.origin_of(key), key: key.to_string(), message: message.into() }
    }

    fn range(&self, key: &str, value: u32, lo: u32, hi: u32, why: &str) -> Result<(), ConfigError> {
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(self.fail(key, format!("= {value} is out of range: allowed {lo} to {hi} ({why})")))
        }
    }
}

/// Check a merged configuration.
pub(super) fn validate(cfg: &StationConfig, prov: &Provenance) -> Result<(), ConfigError> {
    let c = Checker { prov };
    let pin_lo = CTAP_MIN_PIN_CODEPOINTS as u32;
    let pin_hi = CTAP_MAX_PIN_BYTES as u32;

    if cfg.tenants.contains_key(DEFAULT_TENANT) {
        return Err(c.fail("tenants.default", "is reserved for the [tenant] table; rename this tenant"));
    }
    let selected_exists = cfg.tenant().is_some() || (cfg.use_tenant == DEFAULT_TENANT);
    if !selected_exists {
        let names = cfg.tenant_names();
        return Err(c.fail(
            "use_tenant",
            format!(
                "= {:?} names no configured tenant; configured: {}",
                cfg.use_tenant,
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ),
        ));
    }
    for (prefix, t) in cfg.tenant.iter().map(|t| ("tenant".to_string(), t)).chain(cfg.tenants.iter().map(|(n, t)| (format!("tenants.{n}"), t))) {
        check_tenant(&c, &prefix, t)?;
    }

    let p = &cfg.pin;
    c.range("pin.length", p.length, pin_lo, pin_hi, "FIDO2 PINs are 4 to 63 characters")?;
    c.range("pin.min_length", p.min_length, pin_lo, pin_hi, "FIDO2 PINs are 4 to 63 characters")?;
    if let Some(k) = p.set_min_length_on_key {
        c.range("pin.set_min_length_on_key", k, pin_lo, pin_hi, "FIDO2 PINs are 4 to 63 characters")?;
    }

    let t = &cfg.tap;
    c.range("tap.registration_lifetime_minutes", t.registration_lifetime_minutes, 10, 43200, "Graph's bounds; the tenant's TAP policy may narrow them, by default to 60-480")?;
    c.range("tap.lifetime_minutes", t.lifetime_minutes, 10, 43200, "Graph's bounds; the tenant's TAP policy may narrow them, by default to 60-480")?;

    let h = &cfg.handover;
    if let Err(e) = crate::station::handover::parse_recipients(&h.recipients) {
        return Err(c.fail("handover.recipients", e));
    }
    if p.source == PinSource::Random && !h.show_once && h.recipients.is_empty() {
        return Err(c.fail(
            "handover.show_once",
            "= false with no handover.recipients would lose every random PIN: show it once, add an age recipient, or use pin.source = \"user-at-desk\"",
        ));
    }

    if cfg.journal.path.as_os_str().is_empty() {
        return Err(c.fail("journal.path", "is empty; give a file name such as \"journal.sqlite\""));
    }
    if let Some(url) = &cfg.journal.url {
        match url::Url::parse(url) {
            Ok(u) if !matches!(u.scheme(), "postgres" | "postgresql") => {
                return Err(c.fail("journal.url", format!("`{}` is not a postgres:// URL (a shared journal is a PostgreSQL database; leave journal.url unset for the local SQLite file)", u.scheme())));
            }
            Ok(u) if u.password().is_some() => {
                return Err(c.fail("journal.url", "holds a password; remove it and set journal.password_env (an environment variable name) or journal.password_file (a 0600 file) instead"));
            }
            Ok(_) => {}
            Err(e) => return Err(c.fail("journal.url", format!("is not a URL ({e}); expected postgres://user@host:5432/database"))),
        }
    }
    if cfg.journal.password_env.is_some() && cfg.journal.password_file.is_some() {
        return Err(c.fail("journal.password_env", "and journal.password_file are both set; give one"));
    }
    c.range("journal.lease_s", cfg.journal.lease_s, 5, 3600, "seconds a station holds a queued user without renewing")?;
    c.range("batch.concurrency", cfg.batch.concurrency, 1, 32, "keys provisioned at once")?;
    c.range("kiosk.hold_seconds", cfg.kiosk.hold_seconds, 0, 3600, "seconds a refusal stays on the desk's screen; 0 goes straight back")?;
    if let Some(q) = &cfg.kiosk.quit_sequence
        && (q.trim().len() < 4 || q.contains('@'))
    {
        return Err(c.fail("kiosk.quit_sequence", "must be at least 4 characters and not look like a user name (no `@`): anyone at the desk can type a user name"));
    }
    if let Err((key, message)) = cfg.browser.station_browser() {
        return Err(c.fail(&key, message));
    }
    let n = &cfg.network;
    c.range("network.timeout_seconds", n.timeout_seconds, 1, 600, "one HTTP exchange with Entra")?;
    c.range("network.connect_timeout_seconds", n.connect_timeout_seconds, 1, 300, "opening a connection")?;
    if cfg.journal.is_shared() && 3 * n.timeout_seconds >= cfg.journal.lease_s {
        // A side effect starts only while a third of the lease is left (`require_lease`);
        // an Entra call that outlived the lease could land after another station took
        // the user over and checked the user's methods.
        let (most, least) = (cfg.journal.lease_s.saturating_sub(1) / 3, 3 * n.timeout_seconds + 1);
        return Err(c.fail(
            "network.timeout_seconds",
            format!(
                "= {} is not below a third of journal.lease_s = {} on a shared journal: an Entra call must end before a third of the lease is used up, or another station could take the user over while it is still under way. Set network.timeout_seconds to at most {most}, or journal.lease_s to at least {least}",
                n.timeout_seconds, cfg.journal.lease_s
            ),
        ));
    }
    if n.ca_bundle_only && n.ca_bundle.is_none() {
        return Err(c.fail("network.ca_bundle_only", "= true needs network.ca_bundle (the only certificates to trust)"));
    }
    if let Some(p) = n.proxy.as_deref().map(str::trim).filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("none")) {
        // The value may hold credentials: never quote it.
        let ok = reqwest::Url::parse(p).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !ok {
            return Err(c.fail("network.proxy", "is not a proxy URL: write it like http://proxy.example:3128, or \"none\" to ignore the environment's proxy"));
        }
    }
    if let Err(e) = cfg.model_table() {
        return Err(c.fail("models", e));
    }
    cfg.console.check().map_err(|(key, message)| c.fail(key, message))?;
    cfg.deeplink.check().map_err(|(key, message)| c.fail(key, message))?;
    Ok(())
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_domain(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn check_host(c: &Checker<'_>, key: &str, value: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        c.fail(key, format!("= {value:?} {why}: give the scheme and host only, like https://graph.microsoft.com (http:// only for 127.0.0.1 or localhost, e.g. the simulator)"))
    };
    let url = reqwest::Url::parse(value).map_err(|_| bad("is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must use https")),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not contain a path"));
    }
    Ok(())
}

fn check_tenant(c: &Checker<'_>, prefix: &str, t: &TenantConfig) -> Result<(), ConfigError> {
    let k = |name: &str| format!("{prefix}.{name}");
    if let Some(id) = &t.id
        && !(is_guid(id) || is_domain(id))
    {
        return Err(c.fail(&k("id"), format!("= {id:?} is neither a tenant id (GUID) nor a domain like contoso.onmicrosoft.com")));
    }
    if let Some(id) = &t.client_id
        && !is_guid(id)
    {
        return Err(c.fail(&k("client_id"), format!("= {id:?} is not an application (client) id: expected a GUID like 00000000-0000-0000-0000-000000000000")));
    }
    if let Some(h) = &t.authority_host {
        check_host(c, &k("authority_host"), h)?;
    }
    if let Some(h) = &t.graph_host {
        check_host(c, &k("graph_host"), h)?;
    }
    if let Some(m) = t.challenge_timeout_minutes {
        if t.api_version != ApiVersion::Beta {
            return Err(c.fail(
                &k("challenge_timeout_minutes"),
                "needs api_version = \"beta\": Graph v1.0 has a fixed 5-minute challenge",
            ));
        }
        c.range(&k("challenge_timeout_minutes"), m, 5, 43200, "Graph beta's bounds")?;
    }
    if let Some(m) = t.min_pin_length {
        c.range(&k("min_pin_length"), m, CTAP_MIN_PIN_CODEPOINTS as u32, CTAP_MAX_PIN_BYTES as u32, "FIDO2 PINs are 4 to 63 characters")?;
    }
    t.sign_in().map_err(|m| c.fail(&k("sign_in"), m))?;
    Ok(())
}
