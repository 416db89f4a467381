//! Benchmarks that print figures (`keystation bench ...`). Speed goals live here, not in
//! timed tests. Each area has its own file.
pub mod keys;
pub mod station;
pub mod browser;
pub mod console;
pub mod fleet;
