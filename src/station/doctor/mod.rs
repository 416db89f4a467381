//! `keystation doctor`: everything that must be right before the first key is imaged,
//! checked without changing anything, each check with PASS, WARN or FAIL and the fix.
//!
//! * **Tenant** ([`tenant`]): sign-in, the token's permissions against the operations
//!   the configured modes use, the TAP policy (on, targets, one-time rule, lifetime
//!   range against the configuration), the FIDO2 policy (on, self-service setup,
//!   targets, attestation enforcement), key restrictions against the models the station
//!   expects (`[[models]]` and the keys plugged in now).
//! * **Users** ([`users`]): each user exists, is a member (not a guest), is in scope of
//!   both policies; their FIDO2 methods and TAPs.
//! * **Station** ([`local`]): the state directory, the clock against Graph's `Date`, the
//!   udev rule and access to FIDO hidraw nodes, Chromium and chromedriver (browser path),
//!   a display (manual browser mode).
//!
//! ```text
//! let report = doctor::run(&DoctorInput { config, state_dir, connect, sources, users, via }).await;
//! print(report.checks); exit(report.first_failure())
//! ```
#![warn(missing_docs)]
pub mod local;
pub mod tenant;
pub mod users;

use crate::ceremony::RegistrationPath;
use crate::key::sources::KeySources;
use crate::station::config::StationConfig;
use crate::station::setup::ConnectOptions;
use serde::Serialize;
use std::path::PathBuf;

pub use crate::station::manage::users::{MethodRow, TapRow, UserReport};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Right as it is.
    Pass,
    /// Works, but worth a look (the detail says why).
    Warn,
    /// Keys would fail (or could not be checked); the fix says what to do.
    Fail,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// Which part of the set-up a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// The Entra tenant: sign-in, permissions, policies.
    Tenant,
    /// The users to enroll.
    Users,
    /// This machine.
    Station,
}

/// What kind of trouble a failed check is, so a caller can map it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trouble {
    /// Sign-in, permissions, Graph unreachable or refusing.
    Entra,
    /// The tenant's policy refuses (method off, out of scope, model blocked).
    Policy,
    /// A user that does not exist, or a bad command line.
    UserInput,
    /// The station's configuration.
    Config,
    /// This machine lacks something (state directory, clock, udev, browser).
    Environment,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Area.
    pub area: Area,
    /// Stable id, e.g. `tenant.sign_in`, `fido2.self_service`, `user.alice@contoso.com`.
    pub id: String,
    /// What was checked, in a few words.
    pub title: String,
    /// Result.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (warnings and failures).
    pub fix: Option<String>,
    /// Kind of trouble (failures).
    pub trouble: Option<Trouble>,
}

impl Check {
    /// A passed check.
    pub fn pass(area: Area, id: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { area, id: id.into(), title: title.into(), status: Status::Pass, detail: detail.into(), fix: None, trouble: None }
    }

    /// A warning with its fix.
    pub fn warn(area: Area, id: impl Into<String>, title: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { area, id: id.into(), title: title.into(), status: Status::Warn, detail: detail.into(), fix: Some(fix.into()), trouble: None }
    }

    /// A failure with its fix and kind.
    pub fn fail(area: Area, id: impl Into<String>, title: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>, trouble: Trouble) -> Check {
        Check { area, id: id.into(), title: title.into(), status: Status::Fail, detail: detail.into(), fix: Some(fix.into()), trouble: Some(trouble) }
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorInput {
    /// The station's configuration (the selected tenant is checked).
    pub config: StationConfig,
    /// The state directory (journal, token cache).
    pub state_dir: PathBuf,
    /// How to reach Entra.
    pub connect: ConnectOptions,
    /// Where keys come from (`None`: leave keys and hidraw access out).
    pub sources: Option<KeySources>,
    /// Users to check (UPN, mail or object id).
    pub users: Vec<String>,
    /// Registration path to check for (default: the tenant's).
    pub via: Option<RegistrationPath>,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Warnings.
    pub warn: usize,
    /// Failures.
    pub fail: usize,
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The configured tenant name checked (`default` for `[tenant]`).
    pub tenant: String,
    /// Every check, in order: tenant, users, station.
    pub checks: Vec<Check>,
    /// Per user: who they are, scope, methods and TAPs.
    pub users: Vec<UserReport>,
    /// Counts.
    pub counts: Counts,
}

impl DoctorReport {
    fn new(tenant: String, mut checks: Vec<Check>, users: Vec<UserReport>) -> DoctorReport {
        let order = |a: Area| match a {
            Area::Tenant => 0,
            Area::Users => 1,
            Area::Station => 2,
        };
        checks.sort_by_key(|c| order(c.area));
        let mut counts = Counts::default();
        for c in &checks {
            match c.status {
                Status::Pass => counts.pass += 1,
                Status::Warn => counts.warn += 1,
                Status::Fail => counts.fail += 1,
            }
        }
        DoctorReport { tenant, checks, users, counts }
    }

    /// The first failed check (report order), which decides the exit code.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    /// A check by id.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// Run every check. Never fails: what cannot be checked is a failed check saying why.
pub async fn run(input: &DoctorInput) -> DoctorReport {
    let mut checks = Vec::new();
    // The tenant id, as every report and JSON output names a tenant (docs/json.md); the
    // configuration's name for it only when no id is configured.
    let tenant_name = input.config.tenant().and_then(|t| t.id.clone()).unwrap_or_else(|| input.config.use_tenant.clone());
    let found = tenant::check(input, &mut checks).await;
    let users = match &found {
        Some(t) => users::check(input, t, &mut checks).await,
        None => {
            if !input.users.is_empty() {
                checks.push(Check::fail(Area::Users, "users", "users", "the users were not checked: the tenant could not be reached", "fix the tenant checks above, then run doctor again", Trouble::Entra));
            }
            Vec::new()
        }
    };
    local::check(input, found.as_ref().and_then(|t| t.graph.last_server_date()), &mut checks).await;
    DoctorReport::new(tenant_name, checks, users)
}
