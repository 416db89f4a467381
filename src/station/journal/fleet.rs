//! The fleet's shared queue: users loaded once, claimed by any station under a lease,
//! taken over when a lease expires, and fenced — every write for a job checks the
//! lease's token, so a station that lost its lease can never record (and therefore
//! never start) another side effect. `docs/fleet.md` has the model.
//!
//! ```text
//! pending ──claim──▶ running (station, lease_token+1, lease_until) ──finish──▶ done | parked | pending (retry)
//!                       │  ▲ renew every lease/3
//!                       └──┴── lease expired: another station claims it (token+1) and
//!                              resumes the job from its intents
//! ```
use super::backend::{params, Backend, Row};
use super::types::{Durability, JobId};
use super::{stamp, Journal, JournalError, IN_PROGRESS};
use serde::Serialize;
use std::time::Duration;

/// A user to load into a queue (a CSV row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    /// CSV line (1-based, as an editor counts).
    pub line: u64,
    /// The user.
    pub upn: String,
    /// The key's name in Entra for this user, if given.
    pub display_name: Option<String>,
    /// The row's PIN policy (`PinPolicyOverride` text), if given.
    pub pin_policy: Option<String>,
}

/// What `queue load` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoadOutcome {
    /// Users added.
    pub added: usize,
    /// Users already in the queue (left as they were).
    pub already: usize,
}

/// One user held by this station under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Queue name.
    pub queue: String,
    /// Queue item id.
    pub item: i64,
    /// Fencing token: every write for this user's job carries it.
    pub token: i64,
    /// The user.
    pub upn: String,
    /// CSV line it was loaded from.
    pub line: u64,
    /// Display name from the row.
    pub display_name: Option<String>,
    /// PIN policy from the row.
    pub pin_policy: Option<String>,
    /// Claims of this user so far, this one included.
    pub attempts: u32,
    /// The job an earlier holder left (a takeover continues from its intents).
    pub job: Option<JobId>,
    /// The station whose lease expired, on a takeover.
    pub taken_from: Option<String>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// A user for this station.
    Claimed(Box<Claim>),
    /// Nothing claimable now, but users are still running elsewhere (their leases are
    /// open) or pending behind another station's claim: wait and try again.
    Wait {
        /// Users running at other stations.
        running: u64,
    },
    /// Every user is done or parked.
    Finished,
}

/// How a claimed user ended at this station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemEnd {
    /// Enrolled.
    Done,
    /// Needs a person (the note says why).
    Parked(String),
    /// Worth another attempt: back to pending.
    Retry(String),
}

/// A queue's progress (`keystation queue status --json`, documented in `docs/fleet.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    /// Queue name.
    pub queue: String,
    /// Users per state.
    pub counts: QueueCounts,
    /// Stations that worked on it.
    pub stations: Vec<StationStatus>,
    /// Users finished per minute over the last five minutes.
    pub rate_per_min: f64,
    /// Seconds until every user is finished at that rate (`null` without a rate).
    pub eta_s: Option<u64>,
}

/// Users per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Waiting for a station.
    pub pending: u64,
    /// Claimed under a lease.
    pub running: u64,
    /// Enrolled.
    pub done: u64,
    /// Waiting for a person.
    pub parked: u64,
}

/// One station's share of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationStatus {
    /// Station name.
    pub name: String,
    /// Its machine.
    pub host: String,
    /// Users it holds now.
    pub running: u64,
    /// Users it finished.
    pub done: u64,
    /// Its last heartbeat (UTC, RFC 3339).
    pub last_seen: String,
    /// What it last said it was doing (`claiming`, `waiting`, `offline: …`, `finished`).
    pub state: String,
}

/// One queue item as stored (reports and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    /// Item id.
    pub id: i64,
    /// The user.
    pub upn: String,
    /// CSV line.
    pub line: u64,
    /// `pending`, `running`, `done`, `parked`.
    pub state: String,
    /// Claims so far.
    pub attempts: u32,
    /// Last (or current) station.
    pub station: Option<String>,
    /// Current fencing token.
    pub token: i64,
    /// Current (or last) job.
    pub job: Option<JobId>,
    /// Why it is parked or was retried.
    pub note: Option<String>,
}

const TAKEOVER: &str = "SELECT id, user_upn, line, display_name, pin_policy, attempts, job_id, station FROM queue_items
     WHERE queue = ?1 AND state = 'running' AND lease_until_ms < {now_ms} ORDER BY id LIMIT 1 {skip_locked}";
const NEXT_PENDING: &str = "SELECT id, user_upn, line, display_name, pin_policy, attempts, job_id, station FROM queue_items
     WHERE queue = ?1 AND state = 'pending' ORDER BY id LIMIT 1 {skip_locked}";
const TAKE: &str = "UPDATE queue_items SET state = 'running', station = ?2, host = ?3, lease_token = lease_token + 1,
     lease_until_ms = {now_ms} + ?4, attempts = attempts + 1, updated_at = ?5 WHERE id = ?1";
const TOKEN: &str = "SELECT lease_token FROM queue_items WHERE id = ?1";
const RENEW: &str = "UPDATE queue_items SET lease_until_ms = {now_ms} + ?3 WHERE id = ?1 AND lease_token = ?2 AND state = 'running'";
const LEASE_LEFT: &str = "SELECT lease_until_ms - {now_ms} FROM queue_items WHERE id = ?1 AND lease_token = ?2 AND state = 'running'";
const ATTACH: &str = "UPDATE queue_items SET job_id = ?2, updated_at = ?3 WHERE id = ?1 AND lease_token = ?4 AND state = 'running'";
const FINISH: &str = "UPDATE queue_items SET state = ?3, note = ?4, lease_until_ms = NULL, updated_at = ?5,
     finished_at = CASE WHEN ?6 = 1 THEN ?5 ELSE NULL END WHERE id = ?1 AND lease_token = ?2 AND state = 'running'";
const COUNTS: &str = "SELECT state, COUNT(*) FROM queue_items WHERE queue = ?1 GROUP BY state";
const FENCE_JOB: &str = "UPDATE jobs SET fence = ?2 WHERE id = ?1";
const LOAD: &str = "INSERT INTO queue_items (queue, user_upn, line, display_name, pin_policy, state, loaded_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6) ON CONFLICT DO NOTHING";
const SEEN: &str = "INSERT INTO stations (queue, name, host, pid, state, message, started_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
     ON CONFLICT (queue, name) DO UPDATE SET host = excluded.host, pid = excluded.pid, state = excluded.state, message = excluded.message, last_seen = excluded.last_seen";
// Operator actions only (a scan is fine: not on any station's per-key path).
const PARKED_ITEM_OF_JOB: &str = "SELECT id, queue FROM queue_items WHERE job_id = ?1 AND state = 'parked'";
const REQUEUE: &str = "UPDATE queue_items SET state = 'pending', attempts = 0, note = ?2, lease_until_ms = NULL, finished_at = NULL, updated_at = ?3
     WHERE id = ?1 AND state = 'parked'";
const DONE_SINCE: &str = "SELECT COUNT(*) FROM queue_items WHERE queue = ?1 AND finished_at >= ?2";

/// The queue statements, for [`Journal::query_plans`].
pub(super) fn statements() -> Vec<(&'static str, String)> {
    vec![
        ("queue: take over an expired lease", TAKEOVER.into()),
        ("queue: next pending user", NEXT_PENDING.into()),
        ("queue: claim", TAKE.into()),
        ("queue: renew a lease", RENEW.into()),
        ("queue: lease left", LEASE_LEFT.into()),
        ("queue: attach a job", ATTACH.into()),
        ("queue: finish a user", FINISH.into()),
        ("queue: counts", COUNTS.into()),
        ("queue: finished since", DONE_SINCE.into()),
        ("queue: fence a job", FENCE_JOB.into()),
    ]
}

fn claim_from(queue: &str, r: &Row, token: i64) -> Result<Claim, JournalError> {
    Ok(Claim {
        queue: queue.to_string(),
        item: r.int(0)?,
        token,
        upn: r.text(1)?,
        line: r.int(2)?.max(0) as u64,
        display_name: r.opt_text(3)?,
        pin_policy: r.opt_text(4)?,
        attempts: r.int(5)?.max(0) as u32 + 1,
        job: r.opt_int(6)?.map(JobId),
        taken_from: None,
    })
}

/// Link a job begun under `claim` to its queue item (in the job's own transaction).
pub(super) fn attach_job(db: &mut dyn Backend, claim: &Claim, job: JobId, now: &str) -> Result<(), JournalError> {
    if db.execute(ATTACH, &params![claim.item, job.0, now, claim.token])? == 0 {
        return Err(JournalError::LeaseLost(claim.upn.clone()));
    }
    Ok(())
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl Journal {
    /// Add users to a queue. Idempotent: a user already in the queue (any case) is left
    /// as it is, whatever its state.
    pub fn queue_load(&mut self, queue: &str, rows: &[QueueRow]) -> Result<LoadOutcome, JournalError> {
        let now = self.now();
        self.write(Durability::Sync, |db| {
            let mut out = LoadOutcome::default();
            for r in rows {
                let n = db.execute(LOAD, &params![queue, r.upn.clone(), r.line as i64, r.display_name.clone(), r.pin_policy.clone(), now.clone()])?;
                if n == 1 { out.added += 1 } else { out.already += 1 }
            }
            Ok(out)
        })
    }

    /// Claim the next user of `queue` for this station, under a lease of `lease`:
    /// first a user whose station's lease expired (taken over, its job fenced off), else
    /// the next pending one. `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so
    /// stations claiming at once never wait for each other nor take the same user.
    pub fn claim(&mut self, queue: &str, lease: Duration) -> Result<ClaimResult, JournalError> {
        let now = self.now();
        let me = self.identity.clone();
        let r = self.write(Durability::Relaxed, |db| {
            let (row, takeover) = match db.query(TAKEOVER, &params![queue])?.into_iter().next() {
                Some(r) => (Some(r), true),
                None => (db.query(NEXT_PENDING, &params![queue])?.into_iter().next(), false),
            };
            let Some(row) = row else {
                let mut running = 0;
                let mut pending = 0;
                for r in db.query(COUNTS, &params![queue])? {
                    match r.text(0)?.as_str() {
                        "running" => running = r.int(1)?,
                        "pending" => pending = r.int(1)?,
                        _ => {}
                    }
                }
                return Ok(if running + pending > 0 { ClaimResult::Wait { running: running as u64 } } else { ClaimResult::Finished });
            };
            let item = row.int(0)?;
            db.execute(TAKE, &params![item, me.name.clone(), me.host.clone(), ms(lease), now.clone()])?;
            let token = db.query(TOKEN, &params![item])?.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
            let mut claim = claim_from(queue, &row, token)?;
            if takeover {
                claim.taken_from = row.opt_text(7)?;
            }
            if let Some(job) = claim.job {
                // The earlier holder's writes for this job are refused from now on.
                // This waits for a write of the earlier holder already under way (a
                // station paused mid-transaction holds the job's row until it runs
                // again), so the lease is stamped again afterwards: counted from the
                // start of the claim, it could be over before the claim is committed,
                // and the next claim would take the user over from this very station.
                let sql = format!("{FENCE_JOB} AND state IN {IN_PROGRESS}");
                db.execute(&sql, &params![job.0, token])?;
                db.execute(RENEW, &params![item, token, ms(lease)])?;
            }
            Ok(ClaimResult::Claimed(Box::new(claim)))
        })?;
        if let ClaimResult::Claimed(c) = &r
            && let Some(job) = c.job
        {
            self.held.insert(job, (c.item, c.token));
        }
        Ok(r)
    }

    /// Extend the leases of the claims (item, token) this station holds; the items
    /// whose lease was lost (taken over, or finished elsewhere) are returned, with their token.
    pub fn renew(&mut self, claims: &[(i64, i64)], lease: Duration) -> Result<Vec<(i64, i64)>, JournalError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        self.write(Durability::Relaxed, |db| {
            let mut lost = Vec::new();
            for (item, token) in claims {
                if db.execute(RENEW, &params![*item, *token, ms(lease)])? == 0 {
                    lost.push((*item, *token));
                }
            }
            Ok(lost)
        })
    }

    /// How long the lease on a claim has left by the database's clock (`None`: lost).
    /// The pipeline refuses to start a side effect on a lease about to end.
    pub fn lease_left(&self, claim: &Claim) -> Result<Option<Duration>, JournalError> {
        let rows = self.rows(LEASE_LEFT, &params![claim.item, claim.token])?;
        Ok(rows.first().map(|r| r.int(0)).transpose()?.map(|left| Duration::from_millis(left.max(0) as u64)))
    }

    /// Refuse (with [`JournalError::LeaseLost`]) unless the claim's lease has at least
    /// `margin` left: a side effect never starts on a lease about to end.
    pub fn require_lease(&self, claim: &Claim, margin: Duration) -> Result<(), JournalError> {
        match self.lease_left(claim)? {
            Some(left) if left >= margin => Ok(()),
            _ => Err(JournalError::LeaseLost(claim.upn.clone())),
        }
    }

    /// Give the user up or back: done, parked, or pending again. Fenced like a job write.
    pub fn finish_item(&mut self, claim: &Claim, end: &ItemEnd) -> Result<(), JournalError> {
        let now = self.now();
        let (state, note, finished) = match end {
            ItemEnd::Done => ("done", None, true),
            ItemEnd::Parked(n) => ("parked", Some(n.clone()), true),
            ItemEnd::Retry(n) => ("pending", Some(n.clone()), false),
        };
        let upn = claim.upn.clone();
        let r = self.write(Durability::Sync, |db| {
            if db.execute(FINISH, &params![claim.item, claim.token, state, note, now, finished])? == 0 {
                return Err(JournalError::LeaseLost(upn));
            }
            Ok(())
        });
        // The item is given back (or lost): none of its jobs is held any more.
        self.held.retain(|_, h| h.0 != claim.item);
        r
    }

    /// Hold `job` under `claim` (a job this station begins or resumes for the claim).
    pub fn hold(&mut self, job: JobId, claim: &Claim) {
        self.held.insert(job, (claim.item, claim.token));
    }

    /// Say what this station is doing (`claiming`, `waiting`, `offline: …`, `finished`);
    /// also its heartbeat for `queue status`.
    pub fn station_seen(&mut self, queue: &str, state: &str, message: Option<&str>) -> Result<(), JournalError> {
        let now = self.now();
        let me = self.identity.clone();
        let pid = std::process::id() as i64;
        self.write(Durability::Relaxed, |db| {
            db.execute(SEEN, &params![queue, me.name, me.host, pid, state, message, now])?;
            Ok(())
        })
    }

    /// Every item of a queue, in load order.
    pub fn queue_items(&self, queue: &str) -> Result<Vec<QueueItem>, JournalError> {
        let sql = "SELECT id, user_upn, line, state, attempts, station, lease_token, job_id, note FROM queue_items WHERE queue = ?1 ORDER BY id";
        self.rows(sql, &params![queue])?
            .iter()
            .map(|r| {
                Ok(QueueItem {
                    id: r.int(0)?,
                    upn: r.text(1)?,
                    line: r.int(2)?.max(0) as u64,
                    state: r.text(3)?,
                    attempts: r.int(4)?.max(0) as u32,
                    station: r.opt_text(5)?,
                    token: r.int(6)?,
                    job: r.opt_int(7)?.map(JobId),
                    note: r.opt_text(8)?,
                })
            })
            .collect()
    }

    /// Queue names with their item counts.
    pub fn queues(&self) -> Result<Vec<(String, u64)>, JournalError> {
        self.rows("SELECT queue, COUNT(*) FROM queue_items GROUP BY queue ORDER BY queue", &[])?.iter().map(|r| Ok((r.text(0)?, r.int(1)? as u64))).collect()
    }

    /// Progress of a queue, per station, with rate and ETA.
    pub fn queue_status(&self, queue: &str) -> Result<QueueStatus, JournalError> {
        let mut counts = QueueCounts::default();
        for r in self.rows(COUNTS, &params![queue])? {
            let n = r.int(1)?.max(0) as u64;
            match r.text(0)?.as_str() {
                "pending" => counts.pending = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                "parked" => counts.parked = n,
                _ => {}
            }
        }
        let per_station = "SELECT s.name, s.host, s.last_seen, s.state,
                (SELECT COUNT(*) FROM queue_items q WHERE q.queue = s.queue AND q.station = s.name AND q.state = 'running'),
                (SELECT COUNT(*) FROM queue_items q WHERE q.queue = s.queue AND q.station = s.name AND q.state = 'done')
             FROM stations s WHERE s.queue = ?1 ORDER BY s.name";
        let stations = self
            .rows(per_station, &params![queue])?
            .iter()
            .map(|r| {
                Ok(StationStatus { name: r.text(0)?, host: r.text(1)?, last_seen: r.text(2)?, state: r.text(3)?, running: r.int(4)?.max(0) as u64, done: r.int(5)?.max(0) as u64 })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        let window = chrono::Duration::minutes(5);
        let since = stamp((self.clock)() - window);
        let recent = self.rows(DONE_SINCE, &params![queue, since])?.first().map(|r| r.int(0)).transpose()?.unwrap_or(0).max(0) as f64;
        let rate_per_min = recent / window.num_minutes() as f64;
        let left = (counts.pending + counts.running) as f64;
        let eta_s = if left == 0.0 { Some(0) } else if rate_per_min > 0.0 { Some((left / rate_per_min * 60.0).ceil() as u64) } else { None };
        Ok(QueueStatus { queue: queue.to_string(), counts, stations, rate_per_min, eta_s })
    }
}

/// The queue entry `job` parked, if any, pending again with a fresh count of attempts, so
/// the next `batch --queue` run gives the user out again (inside the operator's release,
/// [`Journal::operator_release`]). Returns the queue's name.
pub(super) fn requeue_parked_item_in(db: &mut dyn Backend, job: JobId, note: &str, now: &str) -> Result<Option<String>, JournalError> {
    let Some(row) = db.query(PARKED_ITEM_OF_JOB, &params![job.0])?.into_iter().next() else { return Ok(None) };
    db.execute(REQUEUE, &params![row.int(0)?, note.to_string(), now.to_string()])?;
    Ok(Some(row.text(1)?))
}
