//! The spellings this release renamed (one vocabulary in flags, environment and file;
//! docs/configuration.md, "Names"). They keep working for one release, with a warning
//! that names the new spelling, and are removed in the next.
//!
//! | old | new |
//! |---|---|
//! | `--tenant X` | `--use-tenant NAME` (a configured tenant) or `--tenant-id ID` |
//! | `--authority CLOUD\|URL` | `--cloud NAME` or `--authority-host URL` |
//! | `--graph URL` | `--graph-host URL` |
//! | `KEYSTATION_TENANT` | `KEYSTATION_TENANT_ID` |
//! | `KEYSTATION_CLIENT_ID` | `KEYSTATION_TENANT_CLIENT_ID` |
//! | `KEYSTATION_AUTHORITY` | `KEYSTATION_TENANT_CLOUD` or `KEYSTATION_TENANT_AUTHORITY_HOST` |
//! | `KEYSTATION_GRAPH` | `KEYSTATION_TENANT_GRAPH_HOST` |
//! | cloud `usgov`, `usgov-dod` | `us-gov`, `us-gov-dod` (still accepted as aliases) |
use super::load::ConfigOverrides;
use crate::entra::cloud::Cloud;

const GONE: &str = "it is removed in the next release";

/// Map the deprecated flags onto the new fields (a new spelling given too wins).
pub(super) fn map_flags(o: &mut ConfigOverrides, configured: &[String], warnings: &mut Vec<String>) {
    if let Some(t) = o.legacy_tenant.take() {
        let t = t.trim().to_string();
        if configured.iter().any(|c| c == &t) {
            warnings.push(format!("--tenant is deprecated ({GONE}): `{t}` is a configured tenant, so this is --use-tenant {t}"));
            o.tenant.get_or_insert(t);
        } else {
            warnings.push(format!("--tenant is deprecated ({GONE}): `{t}` is not a configured tenant's name, so this is --tenant-id {t}"));
            o.tenant_id.get_or_insert(t);
        }
    }
    if let Some(a) = o.legacy_authority.take() {
        let a = a.trim().to_string();
        match Cloud::from_name(&a) {
            Some(c) => {
                warnings.push(format!("--authority is deprecated ({GONE}): use --cloud {}", c.name()));
                o.cloud.get_or_insert(c.name().to_string());
            }
            None => {
                warnings.push(format!("--authority is deprecated ({GONE}): use --authority-host {a}"));
                o.authority_host.get_or_insert(a);
            }
        }
    }
    if let Some(g) = o.legacy_graph.take() {
        warnings.push(format!("--graph is deprecated ({GONE}): use --graph-host {}", g.trim()));
        o.graph_host.get_or_insert(g.trim().to_string());
    }
}

/// Map deprecated environment variables onto the new names (a new one set too wins).
pub(super) fn map_env(mut env: Vec<(String, String)>, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let old: Vec<(String, String)> = env.iter().filter(|(k, _)| matches!(k.as_str(), "KEYSTATION_TENANT" | "KEYSTATION_CLIENT_ID" | "KEYSTATION_AUTHORITY" | "KEYSTATION_GRAPH")).cloned().collect();
    env.retain(|(k, _)| !old.iter().any(|(o, _)| o == k));
    for (var, value) in old {
        let new = match var.as_str() {
            "KEYSTATION_TENANT" => "KEYSTATION_TENANT_ID",
            "KEYSTATION_CLIENT_ID" => "KEYSTATION_TENANT_CLIENT_ID",
            "KEYSTATION_GRAPH" => "KEYSTATION_TENANT_GRAPH_HOST",
            _ if Cloud::from_name(&value).is_some() => "KEYSTATION_TENANT_CLOUD",
            _ => "KEYSTATION_TENANT_AUTHORITY_HOST",
        };
        if env.iter().any(|(k, _)| k == new) {
            warnings.push(format!("{var} is deprecated and ignored because {new} is set ({GONE})"));
        } else {
            warnings.push(format!("{var} is deprecated ({GONE}): set {new} instead"));
            env.push((new.to_string(), value));
        }
    }
    env
}
