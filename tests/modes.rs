//! The operator-facing modes end to end on the in-process simulator with virtual keys:
//! batch imaging (library and `keystation batch` as a process), the kiosk loop driven by
//! scripted standard input, and `keystation demo`.
#[path = "shared/keystation_cli.rs"]
mod keystation_cli;

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
#[path = "modes/output_safety.rs"]
mod output_safety;
