//! The provisioning station end to end: the pipeline through the library API and the
//! `keystation enroll` binary, on the in-process Entra simulator with virtual keys.
#[path = "shared/keystation_cli.rs"]
mod keystation_cli;
#[path = "shared/json_output.rs"]
mod json_output;

#[path = "station/common.rs"]
mod common;
#[path = "station/pipeline.rs"]
mod pipeline;
#[path = "station/policy.rs"]
mod policy;
#[path = "station/faults.rs"]
mod faults;
#[path = "station/resume.rs"]
mod resume;
#[path = "station/cli.rs"]
mod cli;
#[path = "station/registrar.rs"]
mod registrar;
#[path = "station/doctor.rs"]
mod doctor;
#[path = "station/permissions.rs"]
mod permissions;
#[path = "station/desk.rs"]
mod desk;
#[path = "station/retries.rs"]
mod retries;
#[path = "station/lab.rs"]
mod lab;
#[path = "station/deeplink.rs"]
mod deeplink;
