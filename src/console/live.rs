//! Live updates to the pages over Server-Sent Events.
//!
//! A [`Live`] channel fans JSON messages out to every open page. A page that connects
//! first gets a `snapshot` (the whole state), then one `update` per change, each carrying
//! `at` (the server's clock, in milliseconds since the epoch, when the change happened)
//! so the page can measure how late it draws it. A page too slow to keep up gets a fresh
//! snapshot instead of the messages it missed. Streams end when their session ends or the console stops.
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use crate::station::pipeline::CancelToken;

/// Messages a slow page may fall behind before it is sent a snapshot instead.
const BACKLOG: usize = 256;

/// One channel of live messages.
#[derive(Debug, Clone)]
pub struct Live {
    tx: broadcast::Sender<Arc<str>>,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    /// A channel nobody listens to yet.
    pub fn new() -> Live {
        Live { tx: broadcast::channel(BACKLOG).0 }
    }

    /// Send a message (JSON text) to every open page; nobody listening is fine.
    pub fn send(&self, json: String) {
        let _ = self.tx.send(Arc::from(json));
    }

    /// An SSE response: `snapshot()` first (and again after falling behind), then every
    /// message, until `stop` is cancelled.
    pub fn stream<F>(&self, snapshot: F, stop: CancelToken) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<F>>
    where
        F: Fn() -> String + Send + 'static,
    {
        let rx = self.tx.subscribe();
        let stream = futures_util::stream::unfold((rx, snapshot, stop, true), |(mut rx, snapshot, stop, first)| async move {
            if first {
                let ev = Event::default().event("snapshot").data(snapshot());
                return Some((Ok(ev), (rx, snapshot, stop, false)));
            }
            let ev = tokio::select! {
                _ = stop.cancelled() => return None,
                m = rx.recv() => match m {
                    Ok(json) => Event::default().event("update").data(&*json),
                    Err(RecvError::Lagged(_)) => Event::default().event("snapshot").data(snapshot()),
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(ev), (rx, snapshot, stop, false)))
        });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

/// Now, in milliseconds since the epoch (with microseconds), for `at` fields.
pub fn now_ms() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1000.0
}
