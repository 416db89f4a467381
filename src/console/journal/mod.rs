//! The journal page: search by user, key, state and date; each attempt's timeline with
//! its timings and operator message; the jobs waiting for an operator; export as CSV or
//! JSON with `keystation report`'s writer (the same columns, the same safe CSV).
pub mod routes;
pub mod search;
pub mod timeline;
