//! Accepting a link at the station: parse it, check it against the configuration
//! (signature with the configured key, expiry, tenant) and spend its nonce in the
//! journal, in that order, before anything else is touched. `keystation open` then runs
//! the enrollment the link describes.
use super::{parse, verify, DeeplinkError, EnrollLink, Trust, VerifyPolicy};
use crate::station::config::StationConfig;
use std::path::Path;

/// A link the station accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AcceptedLink {
    /// What the link asks for (the signature is not kept).
    pub link: EnrollLink,
    /// How it was trusted: signed (nonce spent) or waiting for an operator's confirmation.
    pub trust: Trust,
}

/// Accept `url` at `now` (seconds since 1970) under `config`, spending a signed link's
/// nonce in the journal of `state_dir` (or the shared journal). A refusal says why.
pub fn accept(url: &str, config: &StationConfig, state_dir: &Path, now: i64) -> Result<AcceptedLink, DeeplinkError> {
    let link = parse(url)?;
    // The key is read only for a signed link (an unsigned one must not fail on it).
    let key = if link.sig.is_some() { config.deeplink.key()? } else { None };
    let tenants = config.tenant_names();
    let policy = VerifyPolicy { key: key.as_ref(), allow_unsigned: config.deeplink.allow_unsigned, tenants: &tenants, now };
    let trust = verify(&link, &policy)?;
    if trust == Trust::Signed {
        let nonce = link.nonce.as_deref().unwrap_or_default();
        let expires = chrono::DateTime::from_timestamp(link.exp.unwrap_or(now), 0).unwrap_or_else(chrono::Utc::now);
        let mut journal = config.journal.open(state_dir).map_err(|e| DeeplinkError::Journal(e.to_string()))?;
        let first = journal.use_deeplink_nonce(nonce, expires, &link.user, link.tenant.as_deref()).map_err(|e| DeeplinkError::Journal(e.to_string()))?;
        if !first {
            return Err(DeeplinkError::Replayed);
        }
    }
    let mut link = link;
    link.sig = None;
    Ok(AcceptedLink { link, trust })
}
