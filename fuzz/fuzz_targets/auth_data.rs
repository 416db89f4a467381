#![no_main]
//! Fuzz target `auth_data`: see tests/shared/parser_targets.rs (`auth_data`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::auth_data(data));
