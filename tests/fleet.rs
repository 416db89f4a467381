//! The fleet tier: station processes on one shared PostgreSQL journal working one queue
//! of users on the Entra simulator with virtual keys — and what happens when a station
//! is killed, the database restarts, or a station is paused past its lease. In every
//! case each user ends with exactly one method and the journal equals the tenant.
#[path = "shared/keystation_cli.rs"]
mod keystation_cli;
#[path = "shared/postgres.rs"]
mod postgres;
#[path = "fleet/common.rs"]
mod common;
#[path = "fleet/queue.rs"]
mod queue;
