//! `[deeplink]`: where the station finds the key that signs `keystation://` links, and
//! whether it accepts unsigned ones (with an operator's confirmation).
//!
//! The key itself is never in the configuration nor on the command line: the settings
//! name an environment variable or a file only the station's account may read.
use crate::station::deeplink::{DeeplinkError, DeeplinkKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[deeplink]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeeplinkConfig {
    /// The environment variable holding the signing key.
    pub key_env: Option<String>,
    /// The file holding the signing key (mode 0600 or stricter).
    pub key_file: Option<PathBuf>,
    /// Accept unsigned links after an operator confirms the user and tenant on screen.
    pub allow_unsigned: bool,
}

impl DeeplinkConfig {
    /// Both sources at once would leave it unclear which key signs; the error is `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.key_env.is_some() && self.key_file.is_some() {
            return Err(("deeplink.key_file", "is set together with deeplink.key_env: keep one of them".into()));
        }
        if let Some(v) = &self.key_env
            && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(("deeplink.key_env", format!("= {v:?} is not an environment variable name (letters, digits, _)")));
        }
        Ok(())
    }

    /// The signing key, when one is configured (`None`: no key; signed links are then refused).
    pub fn key(&self) -> Result<Option<DeeplinkKey>, DeeplinkError> {
        match (&self.key_env, &self.key_file) {
            (Some(var), _) => DeeplinkKey::from_env(var).map(Some),
            (None, Some(path)) => DeeplinkKey::from_file(path).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// A relative `key_file` named in the file is relative to the file's directory.
    pub(crate) fn resolve_paths(&mut self, base: &Path, from_file: impl Fn(&str) -> bool) {
        if let Some(p) = &mut self.key_file
            && p.is_relative()
            && from_file("deeplink.key_file")
        {
            *p = base.join(&*p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_source_and_a_real_variable_name() {
        assert!(DeeplinkConfig::default().check().is_ok());
        assert!(DeeplinkConfig::default().key().unwrap().is_none());
        let both = DeeplinkConfig { key_env: Some("K".into()), key_file: Some("k".into()), allow_unsigned: false };
        assert_eq!(both.check().unwrap_err().0, "deeplink.key_file");
        let odd = DeeplinkConfig { key_env: Some("A B".into()), ..DeeplinkConfig::default() };
        assert_eq!(odd.check().unwrap_err().0, "deeplink.key_env");
        let unset = DeeplinkConfig { key_env: Some("KEYSTATION_TEST_NO_SUCH_DEEPLINK_KEY".into()), ..DeeplinkConfig::default() };
        assert!(unset.key().unwrap_err().to_string().contains("KEYSTATION_TEST_NO_SUCH_DEEPLINK_KEY is not set"));
    }
}
