//! Temporary Access Passes: create, list, get, delete. The pass itself only comes back
//! from create, as a [`SecretString`]; bodies carrying it are never logged.
use super::client::GraphClient;
use super::error::{GraphError, GraphErrorKind};
use super::operation::Operation;
use super::path::{segment, user_path};
use super::wire::lenient_datetime;
use crate::entra::http::Replay;
use crate::secret::SecretString;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use zeroize::Zeroize;

/// Absolute TAP lifetime bounds (the tenant policy narrows them further).
pub const TAP_LIFETIME_MINUTES: std::ops::RangeInclusive<u32> = 10..=43200;

/// What to ask for; `None` fields take the policy defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapRequest {
    /// When the pass becomes usable (default: now).
    pub start: Option<DateTime<Utc>>,
    /// Lifetime in minutes (must lie within the policy's minimum and maximum).
    pub lifetime_minutes: Option<u32>,
    /// One-time pass.
    pub usable_once: Option<bool>,
}

/// A Temporary Access Pass method of a user.
#[derive(Debug, Clone)]
pub struct TemporaryAccessPass {
    /// Method id.
    pub id: String,
    /// The pass: only in the answer to create.
    pub pass: Option<SecretString>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// When it becomes usable.
    pub start: Option<DateTime<Utc>>,
    /// Lifetime in minutes.
    pub lifetime_minutes: Option<u32>,
    /// One-time pass.
    pub usable_once: Option<bool>,
    /// Usable right now.
    pub is_usable: Option<bool>,
    /// `EnabledByPolicy`, `DisabledByPolicy`, `Expired`, `NotYetValid`, `OneTimeUsed`.
    pub usability_reason: Option<String>,
}

impl TemporaryAccessPass {
    /// End of validity, when start and lifetime are known.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.start.or(self.created)? + chrono::Duration::minutes(self.lifetime_minutes? as i64))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    id: String,
    #[serde(default)]
    temporary_access_pass: Option<String>,
    #[serde(default, deserialize_with = "lenient_datetime")]
    created_date_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_datetime")]
    start_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    lifetime_in_minutes: Option<u32>,
    #[serde(default)]
    is_usable_once: Option<bool>,
    #[serde(default)]
    is_usable: Option<bool>,
    #[serde(default)]
    method_usability_reason: Option<String>,
}

impl Drop for Wire {
    fn drop(&mut self) {
        if let Some(p) = self.temporary_access_pass.as_mut() {
            p.zeroize();
        }
    }
}

impl Wire {
    fn into_tap(mut self) -> TemporaryAccessPass {
        TemporaryAccessPass {
            id: std::mem::take(&mut self.id),
            pass: self.temporary_access_pass.take().filter(|p| !p.is_empty()).map(SecretString::new),
            created: self.created_date_time,
            start: self.start_date_time,
            lifetime_minutes: self.lifetime_in_minutes,
            usable_once: self.is_usable_once,
            is_usable: self.is_usable,
            usability_reason: self.method_usability_reason.take(),
        }
    }
}

#[derive(Deserialize)]
struct WirePage {
    value: Vec<Wire>,
}

impl GraphClient {
    fn tap_path(user: &str) -> String {
        format!("{}/authentication/temporaryAccessPassMethods", user_path(user))
    }

    /// Create a TAP for `user` (replacing any existing one). The pass is in
    /// [`TemporaryAccessPass::pass`].
    pub async fn create_tap(&self, user: &str, request: &TapRequest) -> Result<TemporaryAccessPass, GraphError> {
        let op = Operation::CreateTap;
        let mut body = serde_json::Map::new();
        if let Some(m) = request.lifetime_minutes {
            if !TAP_LIFETIME_MINUTES.contains(&m) {
                return Err(self.error(
                    op,
                    GraphErrorKind::InvalidInput,
                    format!("a TAP lifetime of {m} minutes is impossible: Entra allows {} to {} minutes (and the tenant policy may narrow that)", TAP_LIFETIME_MINUTES.start(), TAP_LIFETIME_MINUTES.end()),
                    Some(user),
                ));
            }
            body.insert("lifetimeInMinutes".into(), m.into());
        }
        if let Some(once) = request.usable_once {
            body.insert("isUsableOnce".into(), once.into());
        }
        if let Some(start) = request.start {
            body.insert("startDateTime".into(), start.to_rfc3339_opts(SecondsFormat::Secs, true).into());
        }
        let url = self.url(&Self::tap_path(user), None);
        // Creating twice would replace the first pass: only safe to repeat when the
        // service certainly did not act (429/503).
        let wire: Wire = self.post_json(op, url, &serde_json::Value::Object(body), Replay::NotIfProcessed, Some(user)).await?;
        let tap = wire.into_tap();
        if tap.pass.is_none() {
            return Err(self.error(op, GraphErrorKind::UnexpectedResponse, "Graph created the pass but did not return it", Some(user)));
        }
        tracing::info!(call = op.log_name(), tap_id = %tap.id, lifetime_minutes = ?tap.lifetime_minutes, usable_once = ?tap.usable_once, "Temporary Access Pass created");
        Ok(tap)
    }

    /// The user's TAPs (at most one).
    pub async fn list_taps(&self, user: &str) -> Result<Vec<TemporaryAccessPass>, GraphError> {
        let url = self.url(&Self::tap_path(user), None);
        let r = self.send(super::client::GraphRequest { op: Operation::ListTaps, method: reqwest::Method::GET, url, body: None, replay: Replay::Idempotent, user: Some(user), headers: vec![] }).await?;
        let page: WirePage = self.decode(Operation::ListTaps, &r.body, Some(user))?;
        Ok(page.value.into_iter().map(Wire::into_tap).collect())
    }

    /// One TAP by id.
    pub async fn get_tap(&self, user: &str, tap_id: &str) -> Result<TemporaryAccessPass, GraphError> {
        let url = self.url(&format!("{}/{}", Self::tap_path(user), segment(tap_id)), None);
        let wire: Wire = self.get_json(Operation::GetTap, url, Some(user)).await?;
        Ok(wire.into_tap())
    }

    /// Delete a TAP.
    pub async fn delete_tap(&self, user: &str, tap_id: &str) -> Result<(), GraphError> {
        let url = self.url(&format!("{}/{}", Self::tap_path(user), segment(tap_id)), None);
        self.delete(Operation::DeleteTap, url, Some(user)).await
    }
}
