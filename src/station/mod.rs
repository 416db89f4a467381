//! The provisioning station: pipeline, journal, PIN policy and the three modes.
//!
//! Foundations the pipeline is built on (each module has one job):
//!
//! - [`config`]: the station's TOML configuration, layered file → `KEYSTATION_*`
//!   environment → command-line overrides, validated with errors that name the file,
//!   the key and what is allowed; the display-name template; the dry-run [`config::Plan`].
//! - [`state`]: the pipeline states a job moves through and which moves are legal.
//! - [`pin`]: PIN generation (OS CSPRNG, unbiased), trivial-PIN rules and the checks
//!   applied to PINs users choose at the desk.
//! - [`handover`]: the once-only handover slip and the age-encrypted copy of a PIN.
//! - [`journal`]: the SQLite journal of every attempt, its state transitions and the
//!   intents recorded before every side effect, so that a crash can be reconciled.
//! - [`models`]: AAGUID → vendor/model names (built in, extendable from config).
//! - [`report`]: the journal as CSV or JSON for `keystation report`.
//! - [`jobs`]: the operator's view of parked and unfinished jobs (why, what to do, the
//!   command for it) and the two ways to close one: release it for a retry, or resolve it.
//! - [`state_dir`]: one station per state directory (the exclusive lock every writing
//!   command holds, and clear errors for a state path that cannot be used).
//!
//! Built on them:
//!
//! - [`pipeline`]: the provisioning pipeline (one key, one user, recorded states,
//!   resume after a crash) that every mode runs.
//! - [`setup`]: building a station from the configuration (sign-in, Graph, journal,
//!   registrars).
//!
//! The modes that run it:
//!
//! - [`batch`]: batch imaging from a CSV user list, several keys at once on a hub.
//! - [`kiosk`]: the hands-free enrollment desk loop.
//! - [`demo`]: the simulated tenant and virtual-key hub behind `keystation demo`.
//!
//! The operator's desk:
//!
//! - [`doctor`]: tenant, user and station checks before the first key.
//! - [`manage`]: a user's keys and passes, deleting methods, re-imaging returned keys.
pub mod config;
pub mod state;
pub mod state_dir;
pub mod pin;
pub mod handover;
pub mod journal;
pub mod jobs;
pub mod lab;
pub mod models;
pub mod report;
pub mod pipeline;
pub mod setup;
pub mod batch;
pub mod kiosk;
pub mod demo;
pub mod doctor;
pub mod manage;
pub mod deeplink;

pub use state::JobState;
