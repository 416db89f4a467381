//! One attempt's history as a timeline: the states it reached (from the journal's
//! transitions) and the side effects it caused (from its intents), in time order, each
//! with how long it took.
use crate::station::journal::{Intent, IntentRecord, Resolution, TransitionRecord};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When (RFC 3339, milliseconds, UTC).
    pub at: String,
    /// Milliseconds since the attempt began.
    pub offset_ms: i64,
    /// `state` (a state reached) or `step` (a side effect).
    pub kind: &'static str,
    /// What, in words.
    pub label: String,
    /// How long: a state until the next one, a step until it was resolved.
    pub duration_ms: Option<i64>,
    /// A step's outcome: `done`, `failed`, `abandoned`, or `open` (never resolved).
    pub outcome: Option<&'static str>,
    /// A step's failure message, a transition's note.
    pub message: Option<String>,
}

/// What an intent does, for the operator (never its secret details).
pub fn describe(intent: &Intent) -> String {
    match intent {
        Intent::ResetKey => "reset the key".into(),
        Intent::SetPin { length, sealed, .. } => format!("set the PIN ({length} characters{})", if *sealed { ", sealed copy kept" } else { "" }),
        Intent::ChangePin => "change the key's PIN".into(),
        Intent::SetMinPinLength { min, .. } => format!("set the key's minimum PIN length to {min}"),
        Intent::ForcePinChange => "make the key ask for a new PIN on first use".into(),
        Intent::IssueTap { purpose, .. } => format!("issue a Temporary Access Pass ({})", match purpose {
            crate::station::journal::TapPurpose::Registration => "registration",
            crate::station::journal::TapPurpose::Handover => "first sign-in",
        }),
        Intent::MakeCredential { .. } => "make the passkey on the key (touch)".into(),
        Intent::RegisterCredential { display_name, .. } => format!("register the key in Entra as \"{display_name}\""),
        Intent::DeleteMethod { method_id, .. } => format!("delete Entra method {method_id}"),
        Intent::DeleteTap { .. } => "delete an unused Temporary Access Pass".into(),
        Intent::ShowPin => "hand the PIN over".into(),
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The timeline of one attempt.
pub fn build(transitions: &[TransitionRecord], intents: &[IntentRecord]) -> Vec<Entry> {
    let start = transitions.first().map(|t| t.at).or_else(|| intents.first().map(|i| i.recorded_at));
    let Some(start) = start else { return Vec::new() };
    let mut entries: Vec<(DateTime<Utc>, u8, Entry)> = Vec::new();
    for (n, t) in transitions.iter().enumerate() {
        let next = transitions.get(n + 1).map(|x| x.at);
        entries.push((
            t.at,
            0,
            Entry {
                at: stamp(t.at),
                offset_ms: (t.at - start).num_milliseconds(),
                kind: "state",
                label: t.to.as_str().replace('_', " "),
                duration_ms: next.map(|x| (x - t.at).num_milliseconds()),
                outcome: None,
                message: t.note.clone(),
            },
        ));
    }
    for i in intents {
        entries.push((
            i.recorded_at,
            1,
            Entry {
                at: stamp(i.recorded_at),
                offset_ms: (i.recorded_at - start).num_milliseconds(),
                kind: "step",
                label: describe(&i.intent),
                duration_ms: i.resolved_at.map(|r| (r - i.recorded_at).num_milliseconds()),
                outcome: Some(match i.resolution {
                    None => "open",
                    Some(Resolution::Done) => "done",
                    Some(Resolution::Failed) => "failed",
                    Some(Resolution::Abandoned) => "abandoned",
                }),
                message: i.message.clone(),
            },
        ));
    }
    // Time order; at the same instant a state comes before the step recorded with it.
    entries.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    entries.into_iter().map(|(_, _, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::journal::{IntentId, JobId};
    use crate::station::pin::PinSource;
    use crate::station::state::JobState;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn states_and_steps_interleave_with_durations() {
        let transitions = vec![
            TransitionRecord { from: None, to: JobState::Arrived, at: t(0), intent: None, note: None },
            TransitionRecord { from: Some(JobState::Arrived), to: JobState::Inspected, at: t(40), intent: None, note: None },
            TransitionRecord { from: Some(JobState::Inspected), to: JobState::Failed, at: t(900), intent: None, note: Some("key removed".into()) },
        ];
        let intents = vec![IntentRecord {
            id: IntentId(1),
            job: JobId(1),
            intent: Intent::SetPin { length: 8, source: PinSource::Random, sealed: false },
            recorded_at: t(50),
            resolution: Some(Resolution::Failed),
            resolved_at: Some(t(850)),
            result: None,
            message: Some("key: the key was removed".into()),
        }];
        let tl = build(&transitions, &intents);
        let labels: Vec<_> = tl.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, vec!["arrived", "inspected", "set the PIN (8 characters)", "failed"]);
        assert_eq!(tl[1].duration_ms, Some(860));
        assert_eq!((tl[2].duration_ms, tl[2].outcome), (Some(800), Some("failed")));
        assert_eq!(tl[3].offset_ms, 900);
        assert_eq!(tl[3].message.as_deref(), Some("key removed"));
        assert!(build(&[], &[]).is_empty());
    }
}
