//! A tenant the station registers keys into: where it is, which app signs in, how.
use crate::secret::SecretString;
// One definition of each, shared with the layers that use them.
pub use crate::ceremony::RegistrationPath;
pub use crate::entra::cloud::Cloud;
pub use crate::entra::graph::ApiVersion;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One `[tenant]` / `[tenants.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Directory (tenant) id as a GUID, or a verified domain like `contoso.onmicrosoft.com`.
    #[serde(default)]
    pub id: Option<String>,
    /// Application (client) id of the station's app registration.
    #[serde(default)]
    pub client_id: Option<String>,
    /// National cloud; chooses the default authority and Graph hosts.
    #[serde(default)]
    pub cloud: Cloud,
    /// Sign-in host, overriding the cloud's (e.g. the simulator `http://127.0.0.1:PORT`).
    #[serde(default)]
    pub authority_host: Option<String>,
    /// Graph host, overriding the cloud's.
    #[serde(default)]
    pub graph_host: Option<String>,
    /// Graph API version.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// How keys are registered for this tenant.
    #[serde(default)]
    pub registration: RegistrationPath,
    /// Challenge lifetime asked of Graph's creationOptions (beta only, 5–43200).
    #[serde(default)]
    pub challenge_timeout_minutes: Option<u32>,
    /// The organisation's minimum PIN length for keys in this tenant (4–63).
    #[serde(default)]
    pub min_pin_length: Option<u32>,
    /// How the station signs in to this tenant.
    #[serde(default)]
    pub sign_in: SignInConfig,
}

/// `[tenant.sign_in]` as written in the file. Use [`TenantConfig::sign_in`] for the
/// validated form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInConfig {
    /// `device-code` (an operator signs in), `client-secret` or `certificate` (unattended).
    #[serde(default)]
    pub method: SignInMethod,
    /// client-secret: name of the environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// client-secret: file holding the secret (keep it mode 0600).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// certificate: PEM certificate registered on the app.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// certificate: PEM private key of that certificate.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
}

/// Sign-in methods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignInMethod {
    /// OAuth device code: an operator signs in interactively.
    #[default]
    DeviceCode,
    /// Client credentials with a shared secret.
    ClientSecret,
    /// Client credentials with a certificate.
    Certificate,
}

/// Where a client secret is read from. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file, by path.
    File(PathBuf),
}

impl SecretSource {
    /// Read the secret. Trailing newlines (from `echo > file`) are dropped. Errors name
    /// the variable or file, never the value.
    pub fn read(&self) -> Result<SecretString, String> {
        self.read_as("client secret")
    }

    /// [`SecretSource::read`] for a secret named `what` in the messages.
    pub fn read_as(&self, what: &str) -> Result<SecretString, String> {
        let raw = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                format!("the {what} variable {name} is not set (or not UTF-8); export it before starting keystation")
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))?,
        };
        let secret = SecretString::new(raw.trim_end_matches(['\r', '\n']));
        if secret.is_empty() {
            return Err(match self {
                SecretSource::Env(name) => format!("the {what} variable {name} is empty"),
                SecretSource::File(path) => format!("the {what} file {} is empty", path.display()),
            });
        }
        Ok(secret)
    }
}

/// Validated sign-in method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum SignIn {
    /// Interactive device code flow.
    DeviceCode,
    /// Client secret from the given place.
    ClientSecret {
        /// Where to read it.
        secret: SecretSource,
    },
    /// Certificate credentials.
    Certificate {
        /// PEM certificate.
        certificate: PathBuf,
        /// PEM private key.
        private_key: PathBuf,
    },
}

impl TenantConfig {
    /// Sign-in host in use (explicit, else the cloud's), without a trailing slash.
    pub fn authority_host(&self) -> String {
        self.authority_host.as_deref().unwrap_or(self.cloud.authority_host()).trim_end_matches('/').to_string()
    }

    /// Graph host in use (explicit, else the cloud's), without a trailing slash.
    pub fn graph_host(&self) -> String {
        self.graph_host.as_deref().unwrap_or(self.cloud.graph_host()).trim_end_matches('/').to_string()
    }

    /// Base URL of Graph calls, e.g. `https://graph.microsoft.com/v1.0`.
    pub fn graph_base_url(&self) -> String {
        format!("{}/{}", self.graph_host(), self.api_version.segment())
    }

    /// The sign-in method with its inputs checked for consistency.
    pub fn sign_in(&self) -> Result<SignIn, String> {
        let s = &self.sign_in;
        let stray = |what: &str| format!("`sign_in.{what}` is only used with another `sign_in.method`; remove it or change the method");
        match s.method {
            SignInMethod::DeviceCode => {
                for (set, name) in [
                    (s.secret_env.is_some(), "secret_env"),
                    (s.secret_file.is_some(), "secret_file"),
                    (s.certificate.is_some(), "certificate"),
                    (s.private_key.is_some(), "private_key"),
                ] {
                    if set {
                        return Err(stray(name));
                    }
                }
                Ok(SignIn::DeviceCode)
            }
            SignInMethod::ClientSecret => {
                if s.certificate.is_some() || s.private_key.is_some() {
                    return Err(stray(if s.certificate.is_some() { "certificate" } else { "private_key" }));
                }
                match (&s.secret_env, &s.secret_file) {
                    (Some(v), None) if !v.trim().is_empty() => Ok(SignIn::ClientSecret { secret: SecretSource::Env(v.trim().to_string()) }),
                    (None, Some(p)) if !p.as_os_str().is_empty() => Ok(SignIn::ClientSecret { secret: SecretSource::File(p.clone()) }),
                    (Some(_), Some(_)) => Err("give either `sign_in.secret_env` or `sign_in.secret_file`, not both".into()),
                    _ => Err("method `client-secret` needs `sign_in.secret_env` (an environment variable name) or `sign_in.secret_file` (a path); the secret itself never goes in the file".into()),
                }
            }
            SignInMethod::Certificate => {
                if s.secret_env.is_some() || s.secret_file.is_some() {
                    return Err(stray(if s.secret_env.is_some() { "secret_env" } else { "secret_file" }));
                }
                match (&s.certificate, &s.private_key) {
                    (Some(c), Some(k)) => Ok(SignIn::Certificate { certificate: c.clone(), private_key: k.clone() }),
                    _ => Err("method `certificate` needs both `sign_in.certificate` and `sign_in.private_key` (PEM file paths)".into()),
                }
            }
        }
    }

    /// Resolve relative certificate / secret-file paths against the configuration file's
    /// directory, so that a file can say `secret_file = "client-secret"` next to itself.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.sign_in.secret_file, &mut self.sign_in.certificate, &mut self.sign_in.private_key].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_default_to_the_cloud_and_can_be_overridden() {
        let mut t = TenantConfig { cloud: Cloud::UsGovDod, ..Default::default() };
        assert_eq!(t.graph_base_url(), "https://dod-graph.microsoft.us/v1.0");
        t.graph_host = Some("http://127.0.0.1:8080/".into());
        t.api_version = ApiVersion::Beta;
        assert_eq!(t.graph_base_url(), "http://127.0.0.1:8080/beta");
        assert_eq!(t.authority_host(), "https://login.microsoftonline.us");
    }

    #[test]
    fn sign_in_combinations() {
        let mut t = TenantConfig::default();
        assert_eq!(t.sign_in(), Ok(SignIn::DeviceCode));
        t.sign_in.method = SignInMethod::ClientSecret;
        assert!(t.sign_in().unwrap_err().contains("never goes in the file"));
        t.sign_in.secret_env = Some("STATION_SECRET".into());
        assert_eq!(t.sign_in(), Ok(SignIn::ClientSecret { secret: SecretSource::Env("STATION_SECRET".into()) }));
        t.sign_in.secret_file = Some("/etc/ks/secret".into());
        assert!(t.sign_in().unwrap_err().contains("not both"));
        t.sign_in.method = SignInMethod::Certificate;
        assert!(t.sign_in().unwrap_err().contains("secret_env"));
        t.sign_in.secret_env = None;
        t.sign_in.secret_file = None;
        t.sign_in.certificate = Some("app.pem".into());
        assert!(t.sign_in().unwrap_err().contains("private_key"));
    }

    #[test]
    fn secret_file_is_read_and_trimmed_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let s = SecretSource::File(path.clone()).read().unwrap();
        assert_eq!(s.expose(), "s3cr3t-value");
        std::fs::write(&path, "\n").unwrap();
        let e = SecretSource::File(path).read().unwrap_err();
        assert!(e.contains("is empty"), "{e}");
        let e = SecretSource::Env("KEYSTATION_TEST_SURELY_UNSET_VAR".into()).read().unwrap_err();
        assert!(e.contains("KEYSTATION_TEST_SURELY_UNSET_VAR is not set"));
    }
}
