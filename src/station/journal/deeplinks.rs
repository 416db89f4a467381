//! The nonces of signed deeplinks: each is spent once (table `deeplink_nonces`, schema
//! 4). Spending is one insert that does nothing when the nonce is there, so two
//! stations (or two processes) opening the same link at once cannot both win.
use super::backend::params;
use super::types::Durability;
use super::{stamp, Journal, JournalError};
use chrono::{DateTime, Utc};

impl Journal {
    /// Spend `nonce` of a link valid until `expires_at`: `true` the first time, `false`
    /// when it was used before (a replay). Nonces of links that expired more than a day
    /// ago are forgotten in the same transaction (such links are refused as expired).
    pub fn use_deeplink_nonce(&mut self, nonce: &str, expires_at: DateTime<Utc>, user: &str, tenant: Option<&str>) -> Result<bool, JournalError> {
        let now = self.now();
        let forget_before = stamp((self.clock)() - chrono::Duration::days(1));
        let station = self.identity().name.clone();
        let args = params![nonce, now, stamp(expires_at), user, tenant.map(str::to_string), station];
        self.write(Durability::Sync, |db| {
            db.execute("DELETE FROM deeplink_nonces WHERE expires_at < ?1", &params![forget_before])?;
            let n = db.execute(
                "INSERT INTO deeplink_nonces (nonce, used_at, expires_at, user_upn, tenant, station) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (nonce) DO NOTHING",
                &args,
            )?;
            Ok(n == 1)
        })
    }
}
