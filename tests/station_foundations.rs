//! Station foundations through the public API and the `keystation report` binary:
//! configuration layering and errors, PIN rules, the journal, age handover, reports.
#[path = "shared/json_output.rs"]
mod json_output;
#[path = "shared/journal_jobs.rs"]
mod journal_jobs;
#[path = "station_foundations/common.rs"]
mod common;
#[path = "station_foundations/config.rs"]
mod config;
#[path = "station_foundations/handover.rs"]
mod handover;
#[path = "station_foundations/journal.rs"]
mod journal;
#[path = "station_foundations/models.rs"]
mod models;
#[path = "station_foundations/pin.rs"]
mod pin;
#[path = "station_foundations/report.rs"]
mod report;
#[path = "station_foundations/state_dir.rs"]
mod state_dir;
