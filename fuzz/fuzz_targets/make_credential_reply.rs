#![no_main]
//! Fuzz target `make_credential_reply`: see tests/shared/parser_targets.rs (`make_credential_reply`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::make_credential_reply(data));
