//! The journal tier: the journal's contract on every backend — SQLite (a file in a
//! temporary directory) and PostgreSQL (a throw-away cluster started by the tests, see
//! `tests/shared/postgres.rs`).
#[path = "shared/journal_jobs.rs"]
mod journal_jobs;
#[path = "shared/postgres.rs"]
mod postgres;
#[path = "journal/harness.rs"]
mod harness;
#[path = "journal/common.rs"]
#[macro_use]
mod common;
#[path = "journal/contract.rs"]
mod contract;
#[path = "journal/queue.rs"]
mod queue;
#[path = "journal/operations.rs"]
mod operations;
#[path = "journal/tls.rs"]
mod tls;
