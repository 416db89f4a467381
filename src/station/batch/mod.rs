//! Batch imaging: provision keys for every user in a CSV file, several keys at once.
//!
//! * [`csv_input`]: the user list, checked row by row (bad rows are reported with their
//!   line number and skipped, the others go on);
//! * [`id`]: the batch id that lets a re-run skip users already done;
//! * [`upn`]: what counts as a user principal name (shared with the kiosk).
pub mod csv_input;
pub mod id;
pub mod upn;

pub use csv_input::{parse_batch, read_batch_file, BatchFile, BatchFileError, BatchRow, RowProblem};
pub use id::{batch_id_for_path, check_batch_id};
pub use upn::check_upn;
