//! The states a provisioning job moves through, and which moves are legal.
//!
//! ```text
//! arrived → inspected → prepared → registered → verified → handed_over → done
//!    └──────────┴───────────┴───────────┴───────────┴────────────┴──→ failed | needs_operator
//!                                                      needs_operator ──→ done | failed
//! ```
//! Jobs never move backwards: a job that has to redo an earlier step after a crash is
//! closed and a new job that `resumes` it is begun (see `docs/journal.md`).
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job stands. Stored in the journal by its [`JobState::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// A key was seen (and, for enroll/batch, a user was chosen). Nothing touched yet.
    Arrived,
    /// The key's getInfo was read (AAGUID, PIN state, minimum PIN length); the user was
    /// looked up. Still no side effect anywhere.
    Inspected,
    /// The key was reset if the policy asked for it and now has its PIN.
    Prepared,
    /// A credential was made on the key and registered in Entra (method id known).
    Registered,
    /// Entra lists the new method for the user.
    Verified,
    /// The PIN was shown/sealed, forced PIN change set, handover TAP issued if asked.
    HandedOver,
    /// Finished; the key has left the desk.
    Done,
    /// Stopped with an error; nothing left half-done that needs a human.
    Failed,
    /// Stopped in a state a human must resolve (see the job's operator reason).
    NeedsOperator,
}

impl JobState {
    /// Every state, in pipeline order.
    pub const ALL: [JobState; 9] = [
        JobState::Arrived,
        JobState::Inspected,
        JobState::Prepared,
        JobState::Registered,
        JobState::Verified,
        JobState::HandedOver,
        JobState::Done,
        JobState::Failed,
        JobState::NeedsOperator,
    ];

    /// The stable name used in the journal, reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Arrived => "arrived",
            JobState::Inspected => "inspected",
            JobState::Prepared => "prepared",
            JobState::Registered => "registered",
            JobState::Verified => "verified",
            JobState::HandedOver => "handed_over",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::NeedsOperator => "needs_operator",
        }
    }

    /// `done` and `failed`: nothing more will happen to this job.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }

    /// A job in one of these states was interrupted if its process is gone: the
    /// pipeline states from `arrived` to `handed_over`.
    pub fn is_in_progress(self) -> bool {
        !self.is_terminal() && self != JobState::NeedsOperator
    }

    /// The next state on the happy path, if any.
    pub fn next(self) -> Option<JobState> {
        match self {
            JobState::Arrived => Some(JobState::Inspected),
            JobState::Inspected => Some(JobState::Prepared),
            JobState::Prepared => Some(JobState::Registered),
            JobState::Registered => Some(JobState::Verified),
            JobState::Verified => Some(JobState::HandedOver),
            JobState::HandedOver => Some(JobState::Done),
            _ => None,
        }
    }

    /// Whether the journal accepts a transition from `self` to `to`.
    pub fn can_move_to(self, to: JobState) -> bool {
        if self.is_in_progress() {
            return self.next() == Some(to) || matches!(to, JobState::Failed | JobState::NeedsOperator);
        }
        // An operator resolves a parked job one way or the other.
        self == JobState::NeedsOperator && matches!(to, JobState::Done | JobState::Failed)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    /// Accepts the journal names and the dashed spellings used on the command line
    /// (`needs-operator`, `handed-over`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        JobState::ALL.into_iter().find(|st| st.as_str() == wanted).ok_or_else(|| {
            let names: Vec<_> = JobState::ALL.iter().map(|s| s.as_str().replace('_', "-")).collect();
            format!("unknown job state `{s}`; use one of: {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_path_is_linear_and_every_running_state_can_fail_or_park() {
        let mut s = JobState::Arrived;
        let mut seen = vec![s];
        while let Some(n) = s.next() {
            assert!(s.can_move_to(n));
            assert!(s.can_move_to(JobState::Failed));
            assert!(s.can_move_to(JobState::NeedsOperator));
            s = n;
            seen.push(s);
        }
        assert_eq!(seen.last(), Some(&JobState::Done));
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn no_backwards_or_skipping_moves() {
        assert!(!JobState::Prepared.can_move_to(JobState::Inspected));
        assert!(!JobState::Arrived.can_move_to(JobState::Prepared));
        assert!(!JobState::Done.can_move_to(JobState::Failed));
        assert!(!JobState::Failed.can_move_to(JobState::Arrived));
        assert!(JobState::NeedsOperator.can_move_to(JobState::Done));
        assert!(!JobState::NeedsOperator.can_move_to(JobState::Registered));
    }

    #[test]
    fn parses_cli_spellings() {
        assert_eq!("needs-operator".parse::<JobState>(), Ok(JobState::NeedsOperator));
        assert_eq!("Handed_Over".parse::<JobState>(), Ok(JobState::HandedOver));
        let err = "finished".parse::<JobState>().unwrap_err();
        assert!(err.contains("needs-operator"), "{err}");
    }
}
