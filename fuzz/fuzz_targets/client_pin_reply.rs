#![no_main]
//! Fuzz target `client_pin_reply`: see tests/shared/parser_targets.rs (`client_pin_reply`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::client_pin_reply(data));
