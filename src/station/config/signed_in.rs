//! The tenant of the last `keystation login`, kept in the state directory, so that
//! `login --tenant-id … --client-id …` followed by `enroll` works without a
//! configuration file: when no tenant is configured, the loader takes this one
//! ([`super::ConfigLoader::signed_in_tenant`]). A configured tenant always wins.
//!
//! The record holds where the tenant is and how the station signs in (for a client
//! secret: the variable's name or the file's path), never a secret.
use super::load::{Origin, Provenance};
use super::TenantConfig;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The record's file in a state directory.
pub fn record_path(state_dir: &Path) -> PathBuf {
    state_dir.join("signed-in-tenant.toml")
}

/// Write the record (mode 0600 in a 0700 state directory, replaced atomically).
pub fn write_record(state_dir: &Path, tenant: &TenantConfig) -> std::io::Result<PathBuf> {
    let mut t = Table::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            t.insert(k.into(), Value::String(v));
        }
    };
    put("id", tenant.id.clone());
    put("client_id", tenant.client_id.clone());
    put("cloud", Some(tenant.cloud.name().to_string()));
    put("authority_host", tenant.authority_host.clone());
    put("graph_host", tenant.graph_host.clone());
    let s = &tenant.sign_in;
    let mut sign_in = Table::new();
    let method = serde_json::to_value(s.method).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "device-code".into());
    sign_in.insert("method".into(), Value::String(method));
    let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone()).display().to_string();
    for (k, v) in [("secret_env", s.secret_env.clone()), ("secret_file", s.secret_file.as_ref().map(abs)), ("certificate", s.certificate.as_ref().map(abs)), ("private_key", s.private_key.as_ref().map(abs))] {
        if let Some(v) = v {
            sign_in.insert(k.into(), Value::String(v));
        }
    }
    t.insert("sign_in".into(), Value::Table(sign_in));
    let mut doc = Table::new();
    doc.insert("tenant".into(), Value::Table(t));
    let text = format!(
        "# Written by `keystation login`: the tenant it signed in to. Used when no tenant is\n# configured (docs/configuration.md); a configured [tenant] always wins.\n{}",
        toml::to_string(&doc).map_err(std::io::Error::other)?
    );
    std::fs::create_dir_all(state_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700));
    }
    let path = record_path(state_dir);
    let mut tmp = tempfile::NamedTempFile::new_in(state_dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// Forget the record (after `logout` of that sign-in).
pub fn remove_record(state_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(record_path(state_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The recorded tenant id and client id, if there is a readable record.
pub fn recorded(state_dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(record_path(state_dir)).ok()?;
    let doc: Table = text.parse().ok()?;
    let t = doc.get("tenant")?.as_table()?;
    Some((t.get("id")?.as_str()?.to_string(), t.get("client_id")?.as_str()?.to_string()))
}

/// Fill `[tenant]` from the record when it has neither `id` nor `client_id`; only keys
/// no other layer set are filled.
pub(super) fn fill_unconfigured_tenant(table: &mut Table, path: &Path, prov: &mut Provenance, warnings: &mut Vec<String>) {
    let configured = table.get("tenant").and_then(Value::as_table).is_some_and(|t| t.contains_key("id") || t.contains_key("client_id"));
    if configured || !path.exists() {
        return;
    }
    let record: Option<Table> = std::fs::read_to_string(path).ok().and_then(|t| t.parse::<Table>().ok());
    let Some(rec) = record.as_ref().and_then(|r| r.get("tenant")).and_then(Value::as_table).cloned() else {
        warnings.push(format!("{} is not a readable sign-in record and was ignored; run `keystation login` again", path.display()));
        return;
    };
    let tenant = table.entry("tenant").or_insert_with(|| Value::Table(Table::new()));
    let Some(tenant) = tenant.as_table_mut() else { return };
    fill(tenant, &rec, "tenant", path, prov);
}

fn fill(into: &mut Table, from: &Table, prefix: &str, path: &Path, prov: &mut Provenance) {
    for (k, v) in from {
        let key = format!("{prefix}.{k}");
        match (into.get_mut(k), v) {
            (Some(Value::Table(inner)), Value::Table(sub)) => fill(inner, sub, &key, path, prov),
            (Some(_), _) => {}
            (None, v) => {
                if let Value::Table(sub) = v {
                    let mut fresh = Table::new();
                    fill(&mut fresh, sub, &key, path, prov);
                    into.insert(k.clone(), Value::Table(fresh));
                } else {
                    into.insert(k.clone(), v.clone());
                    prov.note(&key, Origin::SignedIn(path.to_path_buf()));
                }
            }
        }
    }
}
