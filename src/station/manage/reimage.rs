//! Re-imaging a returned key: find the Entra registrations it carries (from the journal
//! by the key's serial, and from the key itself through credential management when its
//! PIN is known), delete the previous owners' matching methods, reset the key — as one
//! journal operation whose plan is recorded before the first side effect, so a crash
//! mid-way is finished by running `reimage` again with the key ([`super::operation`]).
use super::operation::OperationOutcome;
use crate::entra::graph::decode_credential_id;
use crate::key::worker::KeyHandle;
use crate::secret::SecretString;
use crate::station::journal::{KeyFacts, KeyQuery, NewOperation, OperationKind, OperationPlan, OperationRecord, OperationState, PlannedDeletion};
use crate::station::pipeline::{CancelToken, OutcomeError, Station, StationEvents, Step};
use crate::station::state::JobState;
use serde::Serialize;
use std::sync::Arc;

/// What a re-image will do, for the operator to confirm.
#[derive(Debug, Clone, Serialize)]
pub struct ReimagePlan {
    /// The key.
    pub key: KeyFacts,
    /// The key has a PIN now.
    pub key_has_pin: bool,
    /// Registrations to delete in Entra.
    pub deletions: Vec<PlannedDeletion>,
    /// What the search found besides (already deleted methods, credentials of other
    /// tenants…), in words.
    pub notes: Vec<String>,
    /// The key's credentials were read (its PIN was given).
    pub searched_key: bool,
    /// The journal has enrollments of this key (by serial).
    pub journal_knows_key: bool,
    /// An interrupted re-image of this key, which this run finishes instead.
    #[serde(skip)]
    pub resume: Option<OperationRecord>,
    /// Its id, for people.
    pub resumes: Option<String>,
}

impl ReimagePlan {
    /// The key may carry registrations nobody can find: it has a PIN, the journal knows
    /// no enrollment of it, and its credentials were not read.
    pub fn may_leave_registrations(&self) -> bool {
        self.resume.is_none() && self.key_has_pin && !self.journal_knows_key && !self.searched_key
    }
}

/// Jobs whose registration of a key is still claimed: it reached Entra.
fn registered(state: JobState) -> bool {
    matches!(state, JobState::Registered | JobState::Verified | JobState::HandedOver | JobState::Done | JobState::NeedsOperator)
}

impl Station {
    /// Find what re-imaging `key` involves (reads only): an interrupted re-image to
    /// finish, or the registrations to delete — from the journal (the key's serial and
    /// AAGUID) and, with `pin`, from the key's own credentials matched to Entra methods by
    /// credential id.
    pub async fn plan_reimage(&self, key: &KeyHandle, pin: Option<&SecretString>) -> Result<ReimagePlan, OutcomeError> {
        let info = key.get_info().await.map_err(|e| OutcomeError::key(Step::Inspect, &e))?;
        let d = key.descriptor();
        let zero = info.aaguid.iter().all(|b| *b == 0);
        let aaguid = (!zero).then(|| info.aaguid_string());
        let facts = KeyFacts {
            path: Some(d.path.clone()),
            aaguid: aaguid.clone(),
            model: self.setup().models.lookup_bytes(&info.aaguid).map(|m| m.name.clone()).or_else(|| d.product.clone()),
            serial: d.serial.clone().filter(|s| !s.trim().is_empty()),
            firmware: info.firmware_version.map(crate::station::pipeline::firmware_text),
        };
        let mut plan = ReimagePlan { key: facts.clone(), key_has_pin: info.pin_is_set(), deletions: Vec::new(), notes: Vec::new(), searched_key: false, journal_knows_key: false, resume: None, resumes: None };
        let journal = &self.setup().journal;

        // An interrupted re-image of this key comes first.
        let query = KeyQuery { serial: facts.serial.clone(), aaguid: aaguid.clone(), path: None };
        let q = query.clone();
        let ops = journal.run(move |j| j.operations_for_key(&q)).await.map_err(|e| OutcomeError::journal(&e))?;
        let open: Vec<OperationRecord> = ops.into_iter().filter(|o| o.kind == OperationKind::Reimage && o.state == OperationState::Started && (facts.serial.is_some() || o.key.serial.is_none())).collect();
        if let Some(o) = open.last() {
            plan.resumes = Some(o.uid.clone());
            plan.deletions = o.plan.deletions.clone();
            plan.resume = Some(o.clone());
            if open.len() > 1 {
                plan.notes.push(format!("{} interrupted re-images of this key model are open; finishing the newest ({})", open.len(), o.uid));
            }
            return Ok(plan);
        }

        let graph = &self.setup().graph;
        let add = |plan: &mut ReimagePlan, d: PlannedDeletion| {
            if !plan.deletions.iter().any(|x| x.method_id == d.method_id) {
                plan.deletions.push(d);
            }
        };
        // The journal: jobs that registered this very key (a serial is needed to tell it
        // from other keys of the same model).
        if facts.serial.is_some() {
            let q = query.clone();
            let jobs = journal.run(move |j| j.jobs_for_key(&q)).await.map_err(|e| OutcomeError::journal(&e))?;
            for job in jobs.iter().filter(|j| registered(j.state)) {
                let Some(method) = job.entra_method_id.clone() else { continue };
                plan.journal_knows_key = true;
                let m = method.clone();
                if journal.run(move |j| j.method_deleted(&m)).await.map_err(|e| OutcomeError::journal(&e))? {
                    continue;
                }
                let user = job.user.object_id.clone().or_else(|| job.user.upn.clone()).unwrap_or_default();
                let upn = job.user.upn.clone();
                match graph.list_fido2_methods(&user).await {
                    Ok(methods) => match methods.iter().find(|x| x.id == method) {
                        Some(x) => add(&mut plan, PlannedDeletion { user_upn: upn, user_id: user, method_id: method, display_name: x.display_name.clone(), found_by: "journal".into() }),
                        None => plan.notes.push(format!("job {} registered method {method} for {}; Entra no longer lists it", job.uid, upn.as_deref().unwrap_or(&user))),
                    },
                    Err(e) if e.kind == crate::entra::graph::GraphErrorKind::UserNotFound => {
                        plan.notes.push(format!("job {} registered this key for {}, who is no longer in the directory", job.uid, upn.as_deref().unwrap_or(&user)))
                    }
                    Err(e) => return Err(OutcomeError::graph(Step::Inspect, &e)),
                }
            }
        }
        // The key itself: every credential whose account is a user of this tenant with a
        // method of the same credential id.
        if let Some(pin) = pin {
            let creds = key.list_credentials(pin).await.map_err(|e| OutcomeError::key(Step::Inspect, &e))?;
            plan.searched_key = true;
            for c in creds {
                let rp = c.rp_id.clone().unwrap_or_else(|| "an RP the key does not name".into());
                let Some(name) = c.user.name.clone().filter(|n| n.contains('@')) else {
                    plan.notes.push(format!("a credential for {rp} names no user principal name; left alone (the reset erases it)"));
                    continue;
                };
                let u = match graph.resolve_user(&name).await {
                    Ok(u) => u,
                    Err(e) if e.kind == crate::entra::graph::GraphErrorKind::UserNotFound => {
                        plan.notes.push(format!("a credential for {rp} belongs to {name}, who is not in this tenant; left alone (the reset erases it)"));
                        continue;
                    }
                    Err(e) => return Err(OutcomeError::graph(Step::Inspect, &e)),
                };
                let methods = graph.list_fido2_methods(&u.id).await.map_err(|e| OutcomeError::graph(Step::Inspect, &e))?;
                let same = |id: &str| decode_credential_id(id).is_ok_and(|d| d.primary == c.credential_id || d.alternative.as_deref() == Some(c.credential_id.as_slice()));
                match methods.iter().find(|m| same(&m.id)) {
                    Some(m) => add(
                        &mut plan,
                        PlannedDeletion { user_upn: u.user_principal_name.clone().or(Some(name)), user_id: u.id.clone(), method_id: m.id.clone(), display_name: m.display_name.clone(), found_by: "key".into() },
                    ),
                    None => plan.notes.push(format!("the key's credential for {name} ({rp}) matches none of their Entra methods (already deleted?)")),
                }
            }
        }
        Ok(plan)
    }

    /// Carry out a re-image plan with the key: finish the interrupted one it found, or
    /// record the plan and delete the methods, then reset the key (re-plugging it when its
    /// reset window has passed).
    pub async fn reimage(&self, key: Arc<KeyHandle>, plan: ReimagePlan, events: Arc<dyn StationEvents>, cancel: CancelToken) -> Result<OperationOutcome, OutcomeError> {
        if let Some(record) = plan.resume {
            return Ok(self.finish_operation(record, Some(key), events, cancel).await);
        }
        let op = NewOperation {
            kind: OperationKind::Reimage,
            tenant: Some(self.config().use_tenant.clone()),
            user_upn: None,
            key: plan.key.clone(),
            plan: OperationPlan { deletions: plan.deletions, reset_key: true, note: Some("returned key".into()) },
        };
        self.run_operation(op, Some(key), events, cancel).await
    }
}
