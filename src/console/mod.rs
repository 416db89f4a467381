//! `keystation console`: a small web UI for the enrollment desk, the imaging hub and the
//! journal, served by the station itself. It drives the same station library as the
//! command line (the kiosk loop, the batch runner, the journal's queries and `report`'s
//! writer); there is no second pipeline.
//!
//! ```text
//!  browser ──HTTP(S)──▶ guard (Host/Origin, session, CSRF, desk lock, CSP) ──▶ routes
//!                                                                        ├─ desk/    kiosk loop ◀─ names, PINs
//!                                                                        ├─ hub/     batch runner ─▶ tiles (SSE)
//!                                                                        └─ journal/ queries, timeline, export
//! ```
//!
//! * [`server`]: start/stop, the listener (HTTPS off loopback), the routes;
//! * [`auth`], [`origin`], [`guard`], [`headers`]: who may do what, and from where;
//! * [`desk`], [`hub`], [`journal`]: the three pages' state and endpoints;
//! * [`live`]: Server-Sent Events to the pages;
//! * [`params`]: parsing what the browser sends (untrusted input, property-tested);
//! * [`assets`]: the HTML, CSS and JavaScript, embedded in the binary.
//!
//! Security model and operator guide: `docs/console.md`.
#![warn(missing_docs)]
pub mod activity;
pub mod app;
pub mod assets;
pub mod auth;
pub mod demo;
pub mod desk;
pub mod guard;
pub mod headers;
pub mod hub;
pub mod journal;
pub mod launch;
pub mod live;
pub mod options;
pub mod origin;
pub mod params;
pub mod reply;
pub mod server;
pub mod session;
pub mod tls;

pub use activity::ActivityKind;
pub use options::{BatchDefaults, ConsoleOptions, TlsFiles, VirtualPeople};
pub use server::{start, ConsoleError, ConsoleHandle};
