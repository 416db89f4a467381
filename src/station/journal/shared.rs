//! One journal shared by the async pipeline's tasks.
use super::{Journal, JournalError};
use std::sync::{Arc, Mutex, MutexGuard};

/// A [`Journal`] behind a mutex. Calls run on tokio's blocking pool, because every
/// commit waits for an fsync (`synchronous=FULL`) and must not stall the runtime.
#[derive(Clone, Debug)]
pub struct SharedJournal(Arc<Mutex<Journal>>);

impl SharedJournal {
    /// Share `journal`.
    pub fn new(journal: Journal) -> SharedJournal {
        SharedJournal(Arc::new(Mutex::new(journal)))
    }

    /// Run `f` with the journal on the blocking pool.
    pub async fn run<F, R>(&self, f: F) -> Result<R, JournalError>
    where
        F: FnOnce(&mut Journal) -> Result<R, JournalError> + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut j = inner.lock().map_err(|_| JournalError::Poisoned)?;
            f(&mut j)
        })
        .await
        .map_err(|e| JournalError::Task(e.to_string()))?
    }

    /// Lock from synchronous code (not from async tasks: use [`SharedJournal::run`]).
    pub fn lock(&self) -> Result<MutexGuard<'_, Journal>, JournalError> {
        self.0.lock().map_err(|_| JournalError::Poisoned)
    }
}
