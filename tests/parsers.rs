//! Property tests for every parser of untrusted input (issue 10, item 13): what a key
//! sends (CTAPHID reassembly, CTAP2 CBOR and its canonical scanner, authData, getInfo,
//! makeCredential and clientPIN replies), what Entra sends (Graph and OAuth JSON bodies,
//! through the real HTTP client against a server that answers anything), and what an
//! operator hands in (batch CSV files, the configuration). Each property: no panic, no
//! hang, and a round trip where one is defined.
//!
//! Case counts are bounded so the tier stays fast in CI; raise them for a longer local
//! run with `PROPTEST_CASES=5000 cargo test --test parsers`. The fuzz targets in `fuzz/`
//! (cargo-fuzz, nightly, not in CI) cover the same parsers; `seeds` replays their
//! recorded seeds here on stable.
#[path = "shared/parser_targets.rs"]
mod parser_targets;

#[path = "parsers/support.rs"]
mod support;
#[path = "parsers/ctaphid.rs"]
mod ctaphid;
#[path = "parsers/cbor.rs"]
mod cbor;
#[path = "parsers/ctap2_replies.rs"]
mod ctap2_replies;
#[path = "parsers/entra.rs"]
mod entra;
#[path = "parsers/operator.rs"]
mod operator;
#[path = "parsers/seeds.rs"]
mod seeds;
