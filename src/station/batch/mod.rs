//! Batch imaging: provision keys for every user in a CSV file, several keys at once.
//!
//! ```text
//! let file = read_batch_file(path)?;                         // rows + bad rows with line numbers
//! let plan = plan_batch(&station, file, batch_id_for_path(path)).await?;   // skip done, resume interrupted
//! let report = run_batch(station, sources, plan, options, sink, control).await;
//! ```
//!
//! * [`csv_input`]: the user list, checked row by row (bad rows are reported with their
//!   line number and skipped, the others go on);
//! * [`id`]: the batch id that lets a re-run skip users already done;
//! * [`plan`]: what each row needs given earlier runs (skip, resume, provision);
//! * [`precheck`]: every user to provision checked against the tenant before the first key;
//! * [`runner`]: the scheduler that gives each arriving key the next pending user;
//! * [`queue`]: the same for a shared queue of users (`batch --queue`, a fleet);
//! * [`tracker`]: which keys are plugged in, and arrived/left events (also used by the
//!   kiosk and the demo);
//! * [`events`], [`report`]: what a run tells while it runs and when it ends;
//! * [`upn`]: what counts as a user principal name (shared with the kiosk).
#![warn(missing_docs)]
pub mod csv_input;
pub mod events;
pub mod id;
pub mod plan;
pub mod queue;
pub mod precheck;
pub mod report;
pub mod runner;
pub mod tracker;
pub mod upn;

pub use csv_input::{parse_batch, read_batch_file, BatchFile, BatchFileError, BatchRow, RowProblem};
pub use events::{BatchEvent, BatchNotice, BatchObserver};
pub use id::{batch_id_for_path, check_batch_id};
pub use plan::{plan_batch, skip_existing, BatchPlan, Disposition, PlannedRow};
pub use queue::{run_queue, QueueOptions};
pub use precheck::{precheck_batch, Precheck};
pub use report::{BatchCounts, BatchEnd, BatchReport, RowResult, RowStatus};
pub use runner::{run_batch, BatchControl, BatchOptions, BatchSink, Handover, KeySupply};
pub use tracker::KeyTracker;
pub use upn::check_upn;
