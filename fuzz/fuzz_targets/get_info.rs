#![no_main]
//! Fuzz target `get_info`: see tests/shared/parser_targets.rs (`get_info`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::get_info(data));
