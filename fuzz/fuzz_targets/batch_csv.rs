#![no_main]
//! Fuzz target `batch_csv`: see tests/shared/parser_targets.rs (`batch_csv`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::batch_csv(data));
