//! The operator-facing modes end to end on the in-process simulator with virtual keys:
//! batch imaging (library and `keystation batch` as a process), the kiosk loop driven by
//! scripted standard input, and `keystation demo`.
#[path = "shared/keystation_cli.rs"]
mod keystation_cli;
#[path = "shared/json_output.rs"]
mod json_output;
#[path = "shared/tls_front.rs"]
mod tls_front;

#[path = "modes/common.rs"]
mod common;
#[path = "modes/batch.rs"]
mod batch;
#[path = "modes/cli.rs"]
mod cli;
#[path = "modes/batch_cli.rs"]
mod batch_cli;
#[path = "modes/kiosk.rs"]
mod kiosk;
#[path = "modes/demo.rs"]
mod demo;
#[path = "modes/one_station.rs"]
mod one_station;
#[path = "modes/ca_bundle.rs"]
mod ca_bundle;
#[path = "modes/output_safety.rs"]
mod output_safety;
#[path = "modes/campaign.rs"]
mod campaign;
