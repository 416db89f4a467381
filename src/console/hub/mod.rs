//! The hub page: a batch run drawn as one tile per key slot, live.
//!
//! [`Hub`] is the batch's sink: every event updates the [`model::HubModel`] and goes out
//! to the open pages at once (the message carries the slot that changed and the figures,
//! stamped with the time the event arrived, so the page can measure how late it draws
//! it). Handover slips are held until the operator opens them, once each.
pub mod model;
pub mod routes;
pub mod run;

use crate::console::live::{now_ms, Live};
use crate::secret::SecretString;
use crate::station::batch::{BatchEvent, BatchObserver, BatchSink, Handover};
use model::HubModel;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A held slip: for whom, on which key.
struct HeldSlip {
    user: String,
    key: String,
    text: SecretString,
}

/// The hub's state and its live channel.
#[derive(Default)]
pub struct Hub {
    model: Mutex<HubModel>,
    slips: Mutex<BTreeMap<u64, HeldSlip>>,
    live: Live,
}

#[derive(Serialize)]
struct Update<'a> {
    at: f64,
    tiles: Vec<&'a model::Tile>,
    figures: &'a model::Figures,
    running: bool,
    batch_id: &'a Option<String>,
    slips: &'a [model::SlipRef],
    notices: &'a [model::Notice],
    ending: &'a Option<model::Ending>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::default()
    }

    /// The live channel.
    pub fn live(&self) -> &Live {
        &self.live
    }

    fn model(&self) -> std::sync::MutexGuard<'_, HubModel> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slips(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, HeldSlip>> {
        self.slips.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The whole state as JSON (with `at`).
    pub fn snapshot_json(&self) -> String {
        let m = self.model();
        let mut v = serde_json::to_value(&*m).unwrap_or_default();
        v["at"] = now_ms().into();
        v.to_string()
    }

    /// The whole state.
    pub fn snapshot(&self) -> HubModel {
        self.model().clone()
    }

    /// A new run starts: results of the last one are cleared; slips never opened are
    /// dropped (sealed copies, if configured, are in the journal).
    pub fn begin_run(&self) {
        let dropped = {
            let mut s = self.slips();
            let n = s.len();
            s.clear();
            n
        };
        if dropped > 0 {
            tracing::warn!(slips = dropped, "handover slips of the last batch were never opened and are gone");
        }
        self.model().reset_for_run();
        self.live.send(self.snapshot_json());
    }

    fn publish(&self, at: f64, changed: &[usize]) {
        let m = self.model();
        let update = Update {
            at,
            tiles: changed.iter().filter_map(|i| m.tiles.get(*i)).collect(),
            figures: &m.figures,
            running: m.running,
            batch_id: &m.batch_id,
            slips: &m.slips,
            notices: &m.notices[m.notices.len().saturating_sub(5)..],
            ending: &m.ending,
        };
        let json = serde_json::to_string(&update).unwrap_or_default();
        drop(m);
        self.live.send(json);
    }

    /// The slip for the user on CSV line `line`, once.
    pub fn take_slip(&self, line: u64) -> Option<(String, String, SecretString)> {
        let held = self.slips().remove(&line)?;
        self.model().slips.retain(|s| s.line != line);
        self.publish(now_ms(), &[]);
        Some((held.user, held.key, held.text))
    }
}

impl BatchObserver for Hub {
    fn event(&self, e: &BatchEvent) {
        let at = now_ms();
        let changed = self.model().apply(e);
        self.publish(at, &changed);
    }
}

impl BatchSink for Hub {
    fn handover(&self, handover: Handover) {
        let text = handover.slip.render();
        {
            let mut m = self.model();
            m.slips.retain(|s| s.line != handover.line);
            m.slips.push(model::SlipRef { line: handover.line, user: handover.upn.clone() });
        }
        self.slips().insert(handover.line, HeldSlip { user: handover.upn, key: handover.key, text });
        self.publish(now_ms(), &[]);
    }
}
