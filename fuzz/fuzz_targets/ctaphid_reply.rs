#![no_main]
//! Fuzz target `ctaphid_reply`: see tests/shared/parser_targets.rs (`ctaphid_reply`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::ctaphid_reply(data));
