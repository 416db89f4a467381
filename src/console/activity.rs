//! One activity at a time. The desk and a batch both take every key plugged into the
//! station, so the console runs either the desk, or a batch, or nothing; starting one
//! while the other runs is refused with a message that says how to go on.
use super::desk::input::DeskInbox;
use crate::station::batch::BatchControl;
use crate::station::pipeline::CancelToken;
use serde::Serialize;
use std::sync::Mutex;

/// What the console is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Nothing: the desk is closed and no batch runs.
    Idle,
    /// The desk is open.
    Desk,
    /// A batch runs on the hub.
    Batch,
}

enum Running {
    Idle,
    Desk { inbox: Option<DeskInbox>, cancel: CancelToken, id: u64 },
    Batch { control: BatchControl, id: u64 },
}

/// The console's current activity.
pub struct Activities {
    running: Mutex<Running>,
    next_id: Mutex<u64>,
}

impl Default for Activities {
    fn default() -> Self {
        Activities { running: Mutex::new(Running::Idle), next_id: Mutex::new(1) }
    }
}

impl Activities {
    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn id(&self) -> u64 {
        let mut n = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        *n
    }

    /// What runs now.
    pub fn kind(&self) -> ActivityKind {
        match &*self.lock() {
            Running::Idle => ActivityKind::Idle,
            Running::Desk { .. } => ActivityKind::Desk,
            Running::Batch { .. } => ActivityKind::Batch,
        }
    }

    /// The desk starts; its id ends it later. Refused while a batch runs or the desk is
    /// already open.
    pub fn begin_desk(&self, inbox: DeskInbox, cancel: CancelToken) -> Result<u64, String> {
        let mut r = self.lock();
        match &*r {
            Running::Idle => {
                let id = self.id();
                *r = Running::Desk { inbox: Some(inbox), cancel, id };
                Ok(id)
            }
            Running::Desk { .. } => Err("the desk is already open".into()),
            Running::Batch { .. } => Err("a batch is running on the hub: the desk opens when it has ended (or stop it on the hub page)".into()),
        }
    }

    /// A batch starts. Refused while the desk is open or another batch runs.
    pub fn begin_batch(&self, control: BatchControl) -> Result<u64, String> {
        let mut r = self.lock();
        match &*r {
            Running::Idle => {
                let id = self.id();
                *r = Running::Batch { control, id };
                Ok(id)
            }
            Running::Desk { .. } => Err("the desk is open: close the desk first (both would take the same keys)".into()),
            Running::Batch { .. } => Err("a batch is already running: wait for it to end, or stop it".into()),
        }
    }

    /// The activity with this id ended.
    pub fn end(&self, id: u64) {
        let mut r = self.lock();
        let current = match &*r {
            Running::Desk { id: i, .. } | Running::Batch { id: i, .. } => *i,
            Running::Idle => return,
        };
        if current == id {
            *r = Running::Idle;
        }
    }

    /// Where the desk's names and PINs go, while it is open.
    pub fn desk_inbox(&self) -> Option<DeskInbox> {
        match &*self.lock() {
            Running::Desk { inbox, .. } => inbox.clone(),
            _ => None,
        }
    }

    /// Close the desk: after the person at it is done, or at once (cancelling their job).
    pub fn close_desk(&self, now: bool) {
        if let Running::Desk { inbox, cancel, .. } = &mut *self.lock() {
            inbox.take();
            if now {
                cancel.cancel();
            }
        }
    }

    /// The running batch's controls.
    pub fn batch_control(&self) -> Option<BatchControl> {
        match &*self.lock() {
            Running::Batch { control, .. } => Some(control.clone()),
            _ => None,
        }
    }

    /// The console stops: cancel whatever runs.
    pub fn cancel_all(&self) {
        match &mut *self.lock() {
            Running::Desk { inbox, cancel, .. } => {
                inbox.take();
                cancel.cancel();
            }
            Running::Batch { control, .. } => {
                control.stop.cancel();
                control.abort.cancel();
            }
            Running::Idle => {}
        }
    }
}
