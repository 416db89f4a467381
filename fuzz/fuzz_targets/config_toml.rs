#![no_main]
//! Fuzz target `config_toml`: see tests/shared/parser_targets.rs (`config_toml`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::config_toml(data));
