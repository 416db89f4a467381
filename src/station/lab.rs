//! Test machinery kept out of production. Virtual keys are software keys whose secrets
//! live in this process: a passkey they register protects nothing. They register only
//! in a tenant that cannot be a real one (the simulator: sign-in and Graph hosts on this
//! machine), or in a lab tenant the configuration file names on purpose (`[lab]
//! virtual_keys_tenant`), so that a stray `KEYSTATION_VIRTUAL` cannot enroll real users.
use crate::entra::cloud::is_loopback_url;
use crate::station::config::StationConfig;

/// Whether virtual keys may work for `config`'s tenant; the refusal says why and what to do.
pub fn check_virtual_keys(config: &StationConfig) -> Result<(), String> {
    let tenant = config.require_tenant()?;
    let (authority, graph) = (tenant.authority_host(), tenant.graph_host());
    if is_loopback_url(&authority) && is_loopback_url(&graph) {
        return Ok(());
    }
    let id = tenant.id.clone().unwrap_or_default();
    match &config.lab.virtual_keys_tenant {
        Some(lab) if lab.trim().eq_ignore_ascii_case(id.trim()) => Ok(()),
        named => Err(format!(
            "virtual keys (--virtual, KEYSTATION_VIRTUAL) are test keys and register only in the keystation simulator on this machine, \
             but tenant {id} is at {} (sign-in) and {} (Graph){}: drop --virtual and unset KEYSTATION_VIRTUAL to use USB keys; \
             for a lab tenant, name it in the configuration file: [lab] virtual_keys_tenant = \"{id}\" (docs/configuration.md)",
            crate::text::inert(&authority),
            crate::text::inert(&graph),
            named.as_ref().map(|n| format!("; [lab] virtual_keys_tenant names {} instead", crate::text::inert(n))).unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::config::TenantConfig;

    fn config(authority: Option<&str>, graph: Option<&str>, lab: Option<&str>) -> StationConfig {
        let mut c = StationConfig::default();
        c.tenant = Some(TenantConfig {
            id: Some("lab-tenant-id".into()),
            client_id: Some("app".into()),
            authority_host: authority.map(str::to_string),
            graph_host: graph.map(str::to_string),
            ..Default::default()
        });
        c.lab.virtual_keys_tenant = lab.map(str::to_string);
        c
    }

    #[test]
    fn only_loopback_tenants_or_the_named_lab_tenant() {
        assert!(check_virtual_keys(&config(Some("http://127.0.0.1:1"), Some("http://localhost:1"), None)).is_ok());
        assert!(check_virtual_keys(&config(Some("http://[::1]:1"), Some("http://127.0.0.2:1"), None)).is_ok());
        // The cloud's hosts (nothing configured), a LAN address, half loopback: refused.
        let e = check_virtual_keys(&config(None, None, None)).unwrap_err();
        assert!(e.contains("https://login.microsoftonline.com") && e.contains("[lab] virtual_keys_tenant = \"lab-tenant-id\""), "{e}");
        assert!(check_virtual_keys(&config(Some("https://192.0.2.2:8443"), Some("https://192.0.2.2:8443"), None)).is_err());
        assert!(check_virtual_keys(&config(Some("http://127.0.0.1:1"), Some("https://graph.microsoft.com"), None)).is_err());
        assert!(check_virtual_keys(&config(Some("https://localhost.evil.example"), Some("https://localhost.evil.example"), None)).is_err());
        // A lab tenant named on purpose; another tenant's name does not carry over.
        assert!(check_virtual_keys(&config(None, None, Some("lab-tenant-id"))).is_ok());
        let e = check_virtual_keys(&config(None, None, Some("other-tenant"))).unwrap_err();
        assert!(e.contains("names other-tenant instead"), "{e}");
    }
}
