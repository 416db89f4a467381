//! The command line as scripts and operators meet it: the one `--json` contract
//! (docs/json.md), pipes and colour, one vocabulary, options that apply, help pages,
//! `config`, keys by serial and credential deletion, the kiosk screen, batch progress.
#[path = "shared/json_output.rs"]
mod json_output;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/json_contract.rs"]
mod json_contract;
#[path = "cli/pipes.rs"]
mod pipes;
#[path = "cli/vocabulary.rs"]
mod vocabulary;
#[path = "cli/options.rs"]
mod options;
#[path = "cli/batch.rs"]
mod batch;
#[path = "cli/kiosk.rs"]
mod kiosk;
#[path = "cli/package.rs"]
mod package;
