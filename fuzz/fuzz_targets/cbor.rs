#![no_main]
//! Fuzz target `cbor`: see tests/shared/parser_targets.rs (`cbor`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::cbor(data));
