//! Device authorization grant (RFC 8628 as the identity platform implements it, plus
//! `slow_down`).
use super::error::StsError;
use super::{issue, missing, scopes, unknown_app, unknown_tenant};
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::directory::App;
use crate::entra::simulator::state::oauth::{DeviceCode, DeviceCodeStatus};
use crate::entra::simulator::state::TenantState;
use crate::entra::simulator::tokens;
use chrono::Duration;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The `grant_type` of a device-code poll.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// User codes: upper-case letters and digits without look-alikes.
fn new_user_code() -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..9).map(|_| A[rng.gen_range(0..A.len())] as char).collect()
}

/// `POST /devicecode`: issue a device code (auto-approved when the simulator is told to).
pub fn start(sim: &Sim, tenant: &str, form: &HashMap<String, String>) -> Result<Value, StsError> {
    let client_id = form.get("client_id").ok_or_else(|| missing("client_id"))?;
    let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
    let b = sim.behaviour();
    let mut st = sim.state();
    if !st.matches_tenant(tenant) {
        return Err(unknown_tenant(tenant));
    }
    let app = st.dir.app(client_id).cloned().ok_or_else(|| unknown_app(client_id, &st.domain))?;
    let parsed = scopes::parse(scope, &st.domain)?;
    let now = sim.clock.now();
    let device_code = format!("SIMDC.{}", tokens::random_token(48));
    let user_code = new_user_code();
    let auto = sim.auto_approve.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let status = match auto {
        Some(user_id) => DeviceCodeStatus::Approved { user_id },
        None => DeviceCodeStatus::Pending,
    };
    st.prune(now);
    st.device_codes.insert(
        device_code.clone(),
        DeviceCode {
            user_code: user_code.clone(),
            client_id: app.client_id.clone(),
            scopes: parsed.raw,
            issued: now,
            expires: now + Duration::seconds(b.device_code_expires_in_secs as i64),
            interval_secs: b.device_code_interval_secs,
            last_poll: None,
            status,
        },
    );
    let uri = sim.urls.main_url("/devicelogin");
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": b.device_code_expires_in_secs,
        "interval": b.device_code_interval_secs,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    }))
}

/// A poll of the token endpoint with a device code.
pub fn redeem(sim: &Sim, st: &mut TenantState, app: &App, code: &str) -> Result<Value, StsError> {
    let now = sim.clock.now();
    let increment = sim.behaviour().slow_down_increment_secs;
    let bad_code = || StsError::bad("bad_verification_code", 70000, "The device_code is not known to the authority (or belongs to another client).");
    let dc = st.device_codes.get_mut(code).ok_or_else(bad_code)?;
    if !dc.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(bad_code());
    }
    if dc.status == DeviceCodeStatus::Redeemed {
        return Err(StsError::bad(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if now >= dc.expires {
        return Err(StsError::bad("expired_token", 70019, "Verification code expired."));
    }
    match dc.status.clone() {
        DeviceCodeStatus::Declined => Err(StsError::bad("authorization_declined", 70000, "The end-user denied the authorization request.")),
        DeviceCodeStatus::Pending => {
            let too_fast = dc.last_poll.is_some_and(|last| now - last < Duration::seconds(dc.interval_secs as i64));
            dc.last_poll = Some(now);
            if too_fast {
                // RFC 8628 §3.5 puts the increase on the client; the server keeps asking for
                // the advertised interval, so a client that adds the increment catches up.
                return Err(StsError::bad(
                    "slow_down",
                    50196,
                    format!(
                        "Polling too fast: polls must be at least {} seconds apart; add {increment} seconds to your polling interval for this and all later polls (RFC 8628 slow_down).",
                        dc.interval_secs
                    ),
                ));
            }
            Err(StsError::bad("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."))
        }
        DeviceCodeStatus::Approved { user_id } => {
            let requested = scopes::parse(&dc.scopes.join(" "), "")?;
            let user = st.dir.user(&user_id).cloned().ok_or_else(bad_code)?;
            let body = issue::delegated_response(sim, st, app, &user, &requested, None)?;
            if let Some(dc) = st.device_codes.get_mut(code) {
                dc.status = DeviceCodeStatus::Redeemed;
            }
            Ok(body)
        }
        DeviceCodeStatus::Redeemed => Err(bad_code()),
    }
}

/// Why approving a user code did not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveError {
    /// No pending device code has this user code (or it expired).
    UnknownCode,
    /// The account is not a user of the tenant.
    UnknownAccount,
    /// The account exists but cannot sign in.
    AccountDisabled,
}

impl std::fmt::Display for ApproveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApproveError::UnknownCode => "that code is not pending (wrong, already used, or expired)",
            ApproveError::UnknownAccount => "no such account in this tenant",
            ApproveError::AccountDisabled => "the account is disabled",
        })
    }
}

/// Approve (`Some(account)`) or decline (`None`) the pending device code with `user_code`.
pub fn decide(sim: &Sim, user_code: &str, account: Option<&str>) -> Result<(), ApproveError> {
    let now = sim.clock.now();
    let mut st = sim.state();
    let user_id = match account {
        Some(a) => {
            let u = st.dir.user(a).ok_or(ApproveError::UnknownAccount)?;
            if !u.account_enabled {
                return Err(ApproveError::AccountDisabled);
            }
            Some(u.id.clone())
        }
        None => None,
    };
    let wanted: String = user_code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
    let dc = st
        .device_codes
        .values_mut()
        .find(|d| d.user_code == wanted && d.status == DeviceCodeStatus::Pending && now < d.expires)
        .ok_or(ApproveError::UnknownCode)?;
    dc.status = match user_id {
        Some(user_id) => DeviceCodeStatus::Approved { user_id },
        None => DeviceCodeStatus::Declined,
    };
    Ok(())
}
