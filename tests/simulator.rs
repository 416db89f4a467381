//! The Entra simulator, tested through its HTTP surface with plain reqwest (never with
//! keystation's own Graph client), plus its CLI. Submodules live in `tests/simulator/`.
#[path = "shared/json_output.rs"]
mod json_output;
#[path = "simulator/support.rs"]
mod support;
#[path = "simulator/attest.rs"]
mod attest;

#[path = "simulator/oauth.rs"]
mod oauth;
#[path = "simulator/graph_users.rs"]
mod graph_users;
#[path = "simulator/tap.rs"]
mod tap;
#[path = "simulator/fido2.rs"]
mod fido2;
#[path = "simulator/registration.rs"]
mod registration;
#[path = "simulator/policies.rs"]
mod policies;
#[path = "simulator/faults.rs"]
mod faults;
#[path = "simulator/pages.rs"]
mod pages;
#[path = "simulator/drift.rs"]
mod drift;
#[path = "simulator/cli.rs"]
mod cli;
