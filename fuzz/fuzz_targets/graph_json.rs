#![no_main]
//! Fuzz target `graph_json`: see tests/shared/parser_targets.rs (`graph_json`) for what it runs.
#[path = "../../tests/shared/parser_targets.rs"]
mod parser_targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parser_targets::graph_json(data));
