//! The desk's keyboard is the page: names and PINs posted by the browser reach the kiosk
//! loop through two channels, so a PIN can never be read as a name (and shown back) or
//! the other way round. Each read tells the screen what the loop waits for, which is
//! what the page offers next.
use super::screen::{DeskScreen, Expect};
use crate::ceremony::webauthn::BoxFuture;
use crate::secret::SecretString;
use crate::station::kiosk::KioskInput;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Names or PINs waiting at most (a page cannot queue more than this).
const QUEUE: usize = 4;

/// Where the page's posts go (held by the console; dropping it closes the desk once the
/// person at it is done).
#[derive(Clone)]
pub struct DeskInbox {
    names: mpsc::Sender<String>,
    pins: mpsc::Sender<SecretString>,
}

/// Why a post was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxError {
    /// The desk is closing or closed.
    Closed,
    /// Too many waiting already (someone double-tapped).
    Busy,
}

impl DeskInbox {
    /// A name typed or scanned at the desk.
    pub fn name(&self, name: String) -> Result<(), InboxError> {
        self.names.try_send(name).map_err(map_err)
    }

    /// A PIN typed at the desk.
    pub fn pin(&self, pin: SecretString) -> Result<(), InboxError> {
        self.pins.try_send(pin).map_err(map_err)
    }
}

fn map_err<T>(e: mpsc::error::TrySendError<T>) -> InboxError {
    match e {
        mpsc::error::TrySendError::Full(_) => InboxError::Busy,
        mpsc::error::TrySendError::Closed(_) => InboxError::Closed,
    }
}

/// The kiosk loop's input.
pub struct WebInput {
    names: mpsc::Receiver<String>,
    pins: mpsc::Receiver<SecretString>,
    screen: Arc<DeskScreen>,
    pin_timeout: Duration,
}

/// A connected inbox and input. A PIN prompt nobody answers within `pin_timeout` ends
/// (the job stops as if the person walked away).
pub fn channel(screen: Arc<DeskScreen>, pin_timeout: Duration) -> (DeskInbox, WebInput) {
    let (names_tx, names) = mpsc::channel(QUEUE);
    let (pins_tx, pins) = mpsc::channel(QUEUE);
    (DeskInbox { names: names_tx, pins: pins_tx }, WebInput { names, pins, screen, pin_timeout })
}

impl KioskInput for WebInput {
    fn next_line(&mut self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            // PINs left over from the person before are dropped (and wiped).
            while self.pins.try_recv().is_ok() {}
            self.screen.set_expecting(Expect::User);
            // `recv` is cancel-safe: a name is never lost if the kiosk stops waiting.
            let line = self.names.recv().await;
            if line.is_some() {
                self.screen.set_expecting(Expect::Nothing);
            }
            line
        })
    }

    fn secret<'a>(&'a mut self, prompt: &'a str) -> BoxFuture<'a, Option<SecretString>> {
        Box::pin(async move {
            self.screen.set_expecting(Expect::Pin { prompt: prompt.to_string() });
            let pin = tokio::time::timeout(self.pin_timeout, self.pins.recv()).await.ok().flatten();
            self.screen.set_expecting(Expect::Nothing);
            pin
        })
    }
}
