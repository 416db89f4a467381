//! Temporary Access Pass records and their usability rules.
use crate::entra::simulator::clock::graph_time;
use crate::secret::SecretString;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{json, Value};

/// One user's pass (a user has at most one).
#[derive(Debug, Clone)]
pub struct Tap {
    pub id: String,
    pub pass: SecretString,
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub lifetime_minutes: u32,
    pub usable_once: bool,
    /// A one-time pass that has been used to sign in.
    pub used: bool,
}

/// `methodUsabilityReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapUsability {
    EnabledByPolicy,
    DisabledByPolicy,
    Expired,
    NotYetValid,
    OneTimeUsed,
}

impl TapUsability {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TapUsability::EnabledByPolicy => "EnabledByPolicy",
            TapUsability::DisabledByPolicy => "DisabledByPolicy",
            TapUsability::Expired => "Expired",
            TapUsability::NotYetValid => "NotYetValid",
            TapUsability::OneTimeUsed => "OneTimeUsed",
        }
    }
}

/// Characters of generated passes: no look-alikes, some punctuation (real passes have it).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+!#%*-";

/// A fresh random pass of `length` characters with at least one punctuation mark.
pub fn generate_pass(length: u32) -> SecretString {
    let mut rng = rand::thread_rng();
    let mut s: Vec<u8> = (0..length).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect();
    if !s.iter().any(|c| !c.is_ascii_alphanumeric()) {
        let punct = b"+!#%*-";
        let at = rng.gen_range(0..s.len());
        s[at] = punct[rng.gen_range(0..punct.len())];
    }
    SecretString::new(String::from_utf8_lossy(&s).into_owned())
}

impl Tap {
    /// When the pass stops working.
    pub fn expires(&self) -> DateTime<Utc> {
        self.start + Duration::minutes(i64::from(self.lifetime_minutes))
    }

    /// Usability now; `in_scope` = TAP policy enabled and the user targeted.
    pub fn usability(&self, now: DateTime<Utc>, in_scope: bool) -> TapUsability {
        if !in_scope {
            TapUsability::DisabledByPolicy
        } else if self.usable_once && self.used {
            TapUsability::OneTimeUsed
        } else if now >= self.expires() {
            TapUsability::Expired
        } else if now < self.start {
            TapUsability::NotYetValid
        } else {
            TapUsability::EnabledByPolicy
        }
    }

    /// Graph representation; the pass itself only when `with_pass` (create response).
    pub fn to_graph(&self, now: DateTime<Utc>, in_scope: bool, with_pass: bool) -> Value {
        let u = self.usability(now, in_scope);
        json!({
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
            "id": self.id,
            "temporaryAccessPass": if with_pass { Value::String(self.pass.expose().to_string()) } else { Value::Null },
            "createdDateTime": graph_time(self.created),
            "startDateTime": graph_time(self.start),
            "lifetimeInMinutes": self.lifetime_minutes,
            "isUsableOnce": self.usable_once,
            "isUsable": u == TapUsability::EnabledByPolicy,
            "methodUsabilityReason": u.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_have_the_length_and_punctuation() {
        for len in [8, 20, 48] {
            let p = generate_pass(len);
            assert_eq!(p.len(), len as usize);
            assert!(p.expose().chars().any(|c| !c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn usability_follows_time_use_and_scope() {
        let now = Utc::now();
        let mut t = Tap { id: "x".into(), pass: "p".into(), created: now, start: now, lifetime_minutes: 60, usable_once: true, used: false };
        assert_eq!(t.usability(now, true), TapUsability::EnabledByPolicy);
        assert_eq!(t.usability(now, false), TapUsability::DisabledByPolicy);
        assert_eq!(t.usability(now + Duration::minutes(61), true), TapUsability::Expired);
        assert_eq!(t.usability(now - Duration::minutes(1), true), TapUsability::NotYetValid);
        t.used = true;
        assert_eq!(t.usability(now, true), TapUsability::OneTimeUsed);
    }
}
