//! The permission check made before any key is touched: the station's token must carry
//! the Graph permissions for every call a job will make, or the job stops at inspection
//! with the missing permission named — instead of failing after the key got a PIN that
//! nobody was given.
//!
//! [`planned_calls`] is the plan's list (also used by `keystation doctor`);
//! [`Station::check_permissions`] checks the station's own token against it.
use super::events::Step;
use super::failure::Failure;
use super::outcome::OutcomeError;
use super::Station;
use crate::ceremony::RegistrationPath;
use crate::entra::graph::{ApiVersion, Operation, PlannedCall};
use crate::station::config::StationConfig;

/// Every Graph call a provisioning job makes under `config` (registration path `via`,
/// else the tenant's), with the API version it is made with. Calls made only when a
/// policy happens to need them (the group check) or only to clean up after a crash are
/// left out: a missing read fails at inspection anyway, before the key is touched.
pub fn planned_calls(config: &StationConfig, via: Option<RegistrationPath>) -> Vec<PlannedCall> {
    let Some(tenant) = config.tenant() else { return Vec::new() };
    let api = tenant.api_version;
    let path = via.unwrap_or(tenant.registration);
    let call = |operation, api| PlannedCall { operation, api };
    let mut calls = vec![call(Operation::GetUser, api), call(Operation::ReadFido2Policy, api), call(Operation::ListFido2Methods, api)];
    let tap = path == RegistrationPath::Browser || config.tap.handover;
    if tap {
        calls.push(call(Operation::ReadTapPolicy, api));
        calls.push(call(Operation::CreateTap, api));
    }
    if path == RegistrationPath::Graph {
        // The registrar asks beta for creation options when a challenge timeout is set.
        let options_api = if tenant.challenge_timeout_minutes.is_some() { ApiVersion::Beta } else { api };
        calls.push(call(Operation::Fido2CreationOptions, options_api));
        calls.push(call(Operation::RegisterFido2Method, api));
    }
    calls
}

impl Station {
    /// Whether the station's sign-in may make every call a job will make (path `via`,
    /// else the tenant's). The error is a station-wide Entra failure naming the missing
    /// permissions and how to grant them; nothing is touched either way.
    pub async fn check_permissions(&self, via: Option<RegistrationPath>) -> Result<(), OutcomeError> {
        let calls = planned_calls(&self.setup.config, via);
        self.setup.graph.check_access(&calls).await.map_err(|e| {
            let mut f = Failure::graph(Step::Inspect, &e);
            f.message = format!("{}; no key was touched", f.message);
            f
        })
    }
}
