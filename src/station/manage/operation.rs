//! Running a desk operation's plan (docs/journal.md, "Desk operations"): for each
//! method to delete, an intent committed before the DELETE and resolved after it; then,
//! for a re-image, the key reset the same way. A method already gone counts as deleted,
//! and resetting twice is harmless, so an interrupted operation is finished by running
//! the same plan again ([`Station::finish_operation`]).
use crate::entra::graph::GraphErrorKind;
use crate::key::worker::{wait_for_replug, KeyHandle};
use crate::key::KeyError;
use crate::station::journal::{
    FailureKind, Intent, IntentOutcome, JobError, NewOperation, OpIntentId, OperationId, OperationKind, OperationRecord, OperationState,
};
use crate::station::pipeline::{key_handle_options, CancelToken, CrashPoint, EventKind, OutcomeError, Station, StationEvent, StationEvents, Step};
use serde::Serialize;
use std::sync::Arc;

/// What became of one planned deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionResult {
    /// The user's UPN (or object id).
    pub user: String,
    /// The method.
    pub method_id: String,
    /// Its name, when known.
    pub display_name: Option<String>,
    /// `deleted`, `already_gone` (Entra no longer had it), `done_before` (an earlier,
    /// interrupted run deleted it), or `failed`.
    pub result: &'static str,
}

/// What an operation run did.
#[derive(Debug, Clone, Serialize)]
pub struct OperationOutcome {
    /// Journal row.
    pub operation: OperationId,
    /// Journal UUID.
    pub uid: String,
    /// Kind.
    pub kind: OperationKind,
    /// It continued an interrupted run.
    pub resumed: bool,
    /// Per planned deletion.
    pub deletions: Vec<DeletionResult>,
    /// The key was reset (now or in the interrupted run).
    pub reset: bool,
    /// The key's path after the run (it changes when the key had to be re-plugged).
    pub key_path: Option<String>,
    /// State at the end: `done`, `failed`, or `started` when it stopped and a re-run
    /// finishes it.
    pub state: OperationState,
    /// Why it did not finish (serialised as its message, like a job's `error`; the
    /// next step is in the command's error).
    #[serde(serialize_with = "error_message")]
    pub error: Option<OutcomeError>,
    /// The key handle after a re-plug (not serialised).
    #[serde(skip)]
    pub key: Option<Arc<KeyHandle>>,
}

fn error_message<S: serde::Serializer>(e: &Option<OutcomeError>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_some(&e.message),
        None => s.serialize_none(),
    }
}

/// How a run stopped early.
enum Halt {
    /// The test crash point: stop dead, write nothing more.
    Crash,
    /// Leave the operation started: a re-run can finish it (Graph down, key gone).
    Leave(OutcomeError),
    /// End the operation failed.
    Fail(OutcomeError),
}

fn failure(kind: FailureKind, step: Step, message: impl Into<String>) -> OutcomeError {
    OutcomeError::new(kind, step, message)
}

impl Station {
    /// Begin an operation with `op`'s plan (recorded before any side effect) and run it.
    /// `key` is needed for a plan that resets the key.
    pub async fn run_operation(&self, op: NewOperation, key: Option<Arc<KeyHandle>>, events: Arc<dyn StationEvents>, cancel: CancelToken) -> Result<OperationOutcome, OutcomeError> {
        let journal = &self.setup().journal;
        let id = journal.run(move |j| j.begin_operation(&op)).await.map_err(|e| OutcomeError::journal(&e))?;
        let record = self.operation_record(id).await?;
        Ok(self.execute(record, key, false, events, cancel).await)
    }

    /// Finish an interrupted operation (state `started`) by running its plan again.
    pub async fn finish_operation(&self, record: OperationRecord, key: Option<Arc<KeyHandle>>, events: Arc<dyn StationEvents>, cancel: CancelToken) -> OperationOutcome {
        self.execute(record, key, true, events, cancel).await
    }

    /// Interrupted operations that need no key (method deletions), finished now; the
    /// others (a re-image's reset) wait for their key. Returns what was finished.
    pub async fn finish_interrupted_deletions(&self, events: Arc<dyn StationEvents>, cancel: CancelToken) -> Result<Vec<OperationOutcome>, OutcomeError> {
        let open = self.setup().journal.run(|j| j.unfinished_operations()).await.map_err(|e| OutcomeError::journal(&e))?;
        let mut out = Vec::new();
        for record in open.into_iter().filter(|r| !r.plan.reset_key) {
            out.push(self.execute(record, None, true, events.clone(), cancel.clone()).await);
        }
        Ok(out)
    }

    pub(crate) async fn operation_record(&self, id: OperationId) -> Result<OperationRecord, OutcomeError> {
        self.setup()
            .journal
            .run(move |j| j.operation(id))
            .await
            .map_err(|e| OutcomeError::journal(&e))?
            .ok_or_else(|| failure(FailureKind::Internal, Step::Reconcile, format!("operation {id} vanished from the journal")))
    }

    async fn execute(&self, record: OperationRecord, key: Option<Arc<KeyHandle>>, resumed: bool, events: Arc<dyn StationEvents>, cancel: CancelToken) -> OperationOutcome {
        let mut out = OperationOutcome {
            operation: record.id,
            uid: record.uid.clone(),
            kind: record.kind,
            resumed,
            deletions: Vec::new(),
            reset: record.reset_done(),
            key_path: key.as_ref().map(|k| k.descriptor().path.clone()),
            state: OperationState::Started,
            error: None,
            key: key.clone(),
        };
        let result = self.steps(&record, key, &mut out, &events, &cancel).await;
        let journal = &self.setup().journal;
        let id = record.id;
        match result {
            Ok(()) => match journal.run(move |j| j.finish_operation(id, Ok(()))).await {
                Ok(()) => out.state = OperationState::Done,
                Err(e) => out.error = Some(OutcomeError::journal(&e)),
            },
            Err(Halt::Crash) => {
                out.error = Some(failure(FailureKind::Interrupted, Step::Reconcile, "stopped at the test crash point"));
            }
            Err(Halt::Leave(e)) => out.error = Some(e),
            Err(Halt::Fail(e)) => {
                let err = JobError::new(e.kind, e.journal_text());
                out.error = Some(e);
                match journal.run(move |j| j.finish_operation(id, Err(err))).await {
                    Ok(()) => out.state = OperationState::Failed,
                    Err(je) => out.error = Some(OutcomeError::journal(&je)),
                }
            }
        }
        out
    }

    fn emit(&self, events: &Arc<dyn StationEvents>, kind: EventKind) {
        events.event(&StationEvent { job: None, key: None, user: None, kind });
    }

    /// Record the intent (or take over the one an interrupted run left open).
    async fn op_intent(&self, record: &OperationRecord, intent: Intent) -> Result<OpIntentId, Halt> {
        let id = record.id;
        let open = record.open_intent(&intent);
        let kind = intent.kind();
        let iid = match open {
            Some(i) => i,
            None => self.setup().journal.run(move |j| j.record_operation_intent(id, &intent)).await.map_err(|e| Halt::Leave(OutcomeError::journal(&e)))?,
        };
        if self.crash_hook().reached(&CrashPoint::Intent(kind.into())) {
            return Err(Halt::Crash);
        }
        Ok(iid)
    }

    async fn op_resolve(&self, op: OperationId, intent: OpIntentId, kind: &str, outcome: IntentOutcome) -> Result<(), Halt> {
        if matches!(outcome, IntentOutcome::Done(_)) && self.crash_hook().reached(&CrashPoint::Effect(kind.into())) {
            return Err(Halt::Crash);
        }
        self.setup().journal.run(move |j| j.resolve_operation_intent(op, intent, &outcome)).await.map_err(|e| Halt::Leave(OutcomeError::journal(&e)))
    }

    async fn steps(&self, record: &OperationRecord, key: Option<Arc<KeyHandle>>, out: &mut OperationOutcome, events: &Arc<dyn StationEvents>, cancel: &CancelToken) -> Result<(), Halt> {
        let graph = &self.setup().graph;
        for d in &record.plan.deletions {
            let user = d.user_upn.clone().unwrap_or_else(|| d.user_id.clone());
            let mut row = DeletionResult { user: user.clone(), method_id: d.method_id.clone(), display_name: d.display_name.clone(), result: "done_before" };
            if record.deleted(&d.method_id) {
                out.deletions.push(row);
                continue;
            }
            if cancel.is_cancelled() {
                return Err(Halt::Leave(failure(FailureKind::Cancelled, Step::Reconcile, "cancelled by the operator; run the command again to finish")));
            }
            let intent = Intent::DeleteMethod { method_id: d.method_id.clone(), reason: format!("{} of {user}", record.kind.as_str().replace('_', " ")) };
            let iid = self.op_intent(record, intent).await?;
            self.emit(events, EventKind::Note { text: format!("deleting {user}'s security key {} (method {})", d.display_name.as_deref().map(|n| format!("\"{n}\"")).unwrap_or_default(), d.method_id) });
            match graph.delete_fido2_method(&d.user_id, &d.method_id).await {
                Ok(()) => {
                    row.result = "deleted";
                    self.op_resolve(record.id, iid, "delete_method", IntentOutcome::Done(Some(serde_json::json!({"deleted": true})))).await?;
                }
                // Already gone (an earlier run, or someone in the portal): the goal is met.
                Err(e) if matches!(e.kind, GraphErrorKind::MethodNotFound) => {
                    row.result = "already_gone";
                    self.op_resolve(record.id, iid, "delete_method", IntentOutcome::Done(Some(serde_json::json!({"already_gone": true})))).await?;
                }
                Err(e) => {
                    let f = OutcomeError::graph(Step::Reconcile, &e);
                    // A lost answer may or may not have deleted it: the next run asks again.
                    let outcome = if e.is_transient() { IntentOutcome::Abandoned(format!("no answer ({}); the next run deletes it again", f.message)) } else { IntentOutcome::Failed(JobError::new(f.kind, f.message.clone())) };
                    self.op_resolve(record.id, iid, "delete_method", outcome).await?;
                    row.result = "failed";
                    out.deletions.push(row);
                    return Err(if e.is_transient() { Halt::Leave(f) } else { Halt::Fail(f) });
                }
            }
            out.deletions.push(row);
        }
        if record.plan.reset_key && !record.reset_done() {
            let Some(key) = key else {
                return Err(Halt::Leave(failure(FailureKind::UserInput, Step::Reset, "the key must be plugged in to reset it: plug it in and run `keystation reimage` again")));
            };
            let iid = self.op_intent(record, Intent::ResetKey).await?;
            self.emit(events, EventKind::Note { text: "touch the key to confirm the reset (this erases every credential and the PIN)".into() });
            match self.reset_with_replug(key, events, cancel).await {
                Ok(k) => {
                    out.key_path = Some(k.descriptor().path.clone());
                    out.key = Some(k);
                    out.reset = true;
                    self.op_resolve(record.id, iid, "reset_key", IntentOutcome::Done(None)).await?;
                }
                Err(e) => {
                    let f = OutcomeError::key(Step::Reset, &e);
                    let outcome = match e {
                        KeyError::Removed | KeyError::Timeout(_) | KeyError::Transport(_) => IntentOutcome::Abandoned(format!("the key stopped answering ({}); it may or may not be reset", f.message)),
                        _ => IntentOutcome::Failed(JobError::new(f.kind, f.message.clone())),
                    };
                    self.op_resolve(record.id, iid, "reset_key", outcome).await?;
                    // The methods are deleted; the reset can be done again with the key.
                    return Err(Halt::Leave(f.next("plug the key in again and run `keystation reimage` to finish (the Entra side is done)")));
                }
            }
        }
        Ok(())
    }

    /// Reset `key`; when its 10-second power-up window has passed, ask for a re-plug,
    /// wait for it and reset the new handle first thing. Returns the handle that was reset.
    async fn reset_with_replug(&self, key: Arc<KeyHandle>, events: &Arc<dyn StationEvents>, cancel: &CancelToken) -> Result<Arc<KeyHandle>, KeyError> {
        let first = tokio::select! {
            r = key.reset() => r,
            _ = cancel.cancelled() => Err(KeyError::Cancelled),
        };
        match first {
            Ok(()) => return Ok(key),
            Err(KeyError::ResetWindowPassed) => {}
            Err(e) => return Err(e),
        }
        let Some(sources) = self.setup().sources.clone() else { return Err(KeyError::ResetWindowPassed) };
        let descriptor = key.descriptor().clone();
        drop(key);
        // The request goes out only once the watcher has looked (see `wait_for_replug`).
        let prompt = || self.emit(events, EventKind::ReplugKey { reason: "the key's reset window (10 seconds after plugging in) has passed: unplug the key, plug it in again and touch it when it blinks".into() });
        let arrived = tokio::select! {
            r = wait_for_replug(&sources, &descriptor, self.setup().options.replug_timeout, prompt) => r?,
            _ = cancel.cancelled() => return Err(KeyError::Cancelled),
        };
        let io = sources.open(&arrived)?;
        let handle = Arc::new(KeyHandle::open(arrived.clone(), io, key_handle_options(events.clone(), self.setup().options.touch_timeout)).await?);
        self.emit(events, EventKind::KeyReplugged { path: arrived.path.clone() });
        tokio::select! {
            r = handle.reset() => r?,
            _ = cancel.cancelled() => return Err(KeyError::Cancelled),
        }
        Ok(handle)
    }
}
