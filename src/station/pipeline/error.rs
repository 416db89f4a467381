//! Errors of the station as a whole (opening it, listing resumes, finishing a job).
//! A job's own failures never surface as errors: they end up in its
//! [`super::JobOutcome`] and in the journal.
use crate::entra::graph::GraphError;
use crate::key::KeyError;
use crate::station::journal::JournalError;

/// Something the station itself could not do.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// The configuration cannot work (no tenant, bad sign-in settings…); the message
    /// says what to change.
    #[error("{0}")]
    Config(String),
    /// No usable sign-in: run `keystation login`, or fix the app credential.
    #[error("{0}")]
    SignIn(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The state directory cannot be used: another station holds it, it is a file, or
    /// it cannot be written.
    #[error(transparent)]
    StateDir(#[from] crate::station::state_dir::StateDirError),
    /// Graph failed (boxed: a Graph error carries ids and a hint and is large).
    #[error(transparent)]
    Graph(Box<GraphError>),
    /// The key failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The operation was cancelled.
    #[error("cancelled by the operator")]
    Cancelled,
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

impl From<GraphError> for StationError {
    fn from(e: GraphError) -> StationError {
        StationError::Graph(Box::new(e))
    }
}
