//! What the caller asks the pipeline to do for one key: [`JobSpec`], and the desk
//! prompts ([`DeskPrompt`]) interactive modes answer when the pipeline needs a person.
use crate::text::Echo;
use crate::ceremony::webauthn::BoxFuture;
use crate::ceremony::RegistrationPath;
use crate::secret::SecretString;
use crate::station::journal::{BatchRef, Claim, JobId, JobMode};
use crate::station::pin::{PinAlphabet, PinRequirements, PinSource};
use std::sync::Arc;

/// Where the new PIN comes from.
#[derive(Clone, Default)]
pub enum PinChoice {
    /// As `pin.source` in the configuration says: a random PIN, or (for `user-at-desk`)
    /// one asked through [`JobSpec::prompt`].
    #[default]
    Policy,
    /// A random PIN from the OS CSPRNG, whatever the configuration says.
    Random,
    /// A PIN the user already typed at the desk (checked against the key's and the
    /// tenant's rules before anything is written; refused PINs fail the job).
    Chosen(SecretString),
    /// Ask the user at the desk through [`JobSpec::prompt`] once the key's rules are known.
    AskAtDesk,
    /// Keep the key's PIN as it is ([`JobSpec::current_pin`] must hold it): resume uses
    /// this for a user-at-desk job whose key already has the user's PIN.
    KeepCurrent,
}

impl std::fmt::Debug for PinChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PinChoice::Policy => "Policy",
            PinChoice::Random => "Random",
            PinChoice::Chosen(_) => "Chosen([redacted])",
            PinChoice::AskAtDesk => "AskAtDesk",
            PinChoice::KeepCurrent => "KeepCurrent",
        })
    }
}

/// Per-job changes to the `[pin]` policy, e.g. from a batch CSV column.
///
/// Text form ([`PinPolicyOverride::parse`]): comma- or space-separated items, each a
/// `key=value` pair (`length=10`, `min_length=6`, `alphabet=alphanumeric`,
/// `source=random`) or a bare word (`digits`, `alphanumeric`, `random`, `user-at-desk`)
/// or a bare number (the length). Empty text means "no override".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinPolicyOverride {
    /// `pin.source`.
    pub source: Option<PinSource>,
    /// `pin.length` (random PINs).
    pub length: Option<u32>,
    /// `pin.min_length` (PINs chosen at the desk).
    pub min_length: Option<u32>,
    /// `pin.alphabet`.
    pub alphabet: Option<PinAlphabet>,
}

impl PinPolicyOverride {
    /// Parse the text form (see the type docs). Errors say which item is wrong.
    pub fn parse(text: &str) -> Result<PinPolicyOverride, String> {
        let mut o = PinPolicyOverride::default();
        for item in text.split([',', ' ', ';']).map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase().replace('-', "_"), v.trim().to_ascii_lowercase()),
                None if item.chars().all(|c| c.is_ascii_digit()) => ("length".to_string(), item.to_string()),
                None => match item.to_ascii_lowercase().as_str() {
                    "digits" | "alphanumeric" => ("alphabet".to_string(), item.to_ascii_lowercase()),
                    "random" | "user-at-desk" => ("source".to_string(), item.to_ascii_lowercase()),
                    other => return Err(format!("PIN policy item `{}` is not understood; use e.g. `length=8`, `alphabet=digits`, `digits`, `alphanumeric`, `random`, `user-at-desk` or a number", Echo(other))),
                },
            };
            let number = |v: &str| -> Result<u32, String> {
                let n: u32 = v.parse().map_err(|_| format!("`{}={}` is not a whole number", Echo(&key), Echo(v)))?;
                if !(4..=63).contains(&n) {
                    return Err(format!("`{}={n}` is out of range: allowed 4 to 63 (FIDO2 PINs are 4 to 63 characters)", Echo(&key)));
                }
                Ok(n)
            };
            match key.as_str() {
                "length" => o.length = Some(number(&value)?),
                "min_length" => o.min_length = Some(number(&value)?),
                "alphabet" => {
                    o.alphabet = Some(match value.as_str() {
                        "digits" => PinAlphabet::Digits,
                        "alphanumeric" => PinAlphabet::Alphanumeric,
                        other => return Err(format!("PIN alphabet `{}` is not allowed; use digits or alphanumeric", Echo(other))),
                    })
                }
                "source" => {
                    o.source = Some(match value.as_str() {
                        "random" => PinSource::Random,
                        "user-at-desk" | "user_at_desk" => PinSource::UserAtDesk,
                        other => return Err(format!("PIN source `{}` is not allowed; use random or user-at-desk", Echo(other))),
                    })
                }
                other => return Err(format!("PIN policy key `{}` is unknown; use length, min_length, alphabet or source", Echo(other))),
            }
        }
        Ok(o)
    }

    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == PinPolicyOverride::default()
    }

    /// The text form [`PinPolicyOverride::parse`] reads back (a queued row keeps it).
    pub fn to_text(&self) -> String {
        let mut items = Vec::new();
        if let Some(n) = self.length {
            items.push(format!("length={n}"));
        }
        if let Some(n) = self.min_length {
            items.push(format!("min_length={n}"));
        }
        if let Some(a) = self.alphabet {
            items.push(format!("alphabet={}", if a == PinAlphabet::Digits { "digits" } else { "alphanumeric" }));
        }
        if let Some(s) = self.source {
            items.push(format!("source={}", if s == PinSource::Random { "random" } else { "user-at-desk" }));
        }
        items.join(" ")
    }
}

/// When a job reaches `done`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FinishWhen {
    /// Right after `handed_over` (per-user CLI, batch: nobody waits for the key to leave).
    #[default]
    Immediately,
    /// The outcome stops at `handed_over`; the caller shows the slip and then calls
    /// [`super::Station::finish`] (or [`super::Station::finish_when_removed`]) once the
    /// key has left the desk (kiosk).
    Caller,
}

/// What one provisioning job is: a user, how the PIN is chosen, which path registers.
#[derive(Clone)]
pub struct JobSpec {
    /// Which mode runs the job (recorded in the journal).
    pub mode: JobMode,
    /// The user as the operator typed it: UPN, mail address or object id.
    pub user: String,
    /// A fixed name for the key in Entra (≤ 30 characters) instead of the template; made
    /// distinct among the user's methods like a rendered one.
    pub display_name: Option<String>,
    /// Where the new PIN comes from.
    pub pin: PinChoice,
    /// The key's current PIN, when the user knows it (then the PIN is changed instead
    /// of the key being reset, if the reset policy allows keeping the key).
    pub current_pin: Option<SecretString>,
    /// Per-job PIN policy changes (batch CSV column).
    pub pin_policy: Option<PinPolicyOverride>,
    /// Registration path for this job (`--via`); default: the tenant's `registration`.
    pub via: Option<RegistrationPath>,
    /// Batch run and CSV line.
    pub batch: Option<BatchRef>,
    /// The interrupted job this one takes over from (set by resume).
    pub resumes: Option<JobId>,
    /// Answers questions at the desk (PIN choice, current PIN). `None` in unattended
    /// modes: a question then fails the job with a clear message instead.
    pub prompt: Option<Arc<dyn DeskPrompt>>,
    /// When the job reaches `done`.
    pub finish: FinishWhen,
    /// Extra registration attempts once the key has the station's PIN, when Entra fails
    /// in a way another attempt can fix (429/5xx after the client's own retries, network
    /// errors and timeouts, an expired or refused challenge): fresh creation options, the
    /// same PIN. Default 2 (batch: `--retries`).
    pub retries: u32,
    /// The queued user this job works for under a lease (`batch --queue`): the job is
    /// linked to the queue item, every write carries the lease's fencing token, and no
    /// side effect starts on a lease about to end.
    pub claim: Option<Claim>,
}

impl std::fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSpec")
            .field("mode", &self.mode)
            .field("user", &self.user)
            .field("display_name", &self.display_name)
            .field("pin", &self.pin)
            .field("current_pin", &self.current_pin.as_ref().map(|_| "[redacted]"))
            .field("pin_policy", &self.pin_policy)
            .field("via", &self.via)
            .field("batch", &self.batch)
            .field("resumes", &self.resumes)
            .field("claim", &self.claim.as_ref().map(|c| (c.item, c.token)))
            .field("prompt", &self.prompt.is_some())
            .field("finish", &self.finish)
            .field("retries", &self.retries)
            .finish()
    }
}

impl JobSpec {
    /// A job for `user` in `mode` with everything else from the configuration.
    pub fn new(mode: JobMode, user: impl Into<String>) -> JobSpec {
        JobSpec {
            mode,
            user: user.into(),
            display_name: None,
            pin: PinChoice::Policy,
            current_pin: None,
            pin_policy: None,
            via: None,
            batch: None,
            resumes: None,
            prompt: None,
            finish: FinishWhen::Immediately,
            retries: 2,
            claim: None,
        }
    }
}

/// What the pipeline asks a person at the desk. Implementations print the request and
/// read the answer without echo (CLI), or show a dialog (kiosk). `None` means "the user
/// does not know / declined"; the pipeline then stops with a clear message.
pub trait DeskPrompt: Send + Sync {
    /// Ask the user to choose a new PIN meeting `request.requirements`.
    fn new_pin<'a>(&'a self, request: &'a NewPinRequest) -> BoxFuture<'a, Option<SecretString>>;
    /// Ask for the key's current PIN.
    fn current_pin<'a>(&'a self, request: &'a CurrentPinRequest) -> BoxFuture<'a, Option<SecretString>>;
}

/// A request for a new PIN.
#[derive(Debug, Clone)]
pub struct NewPinRequest {
    /// The user (UPN).
    pub user: String,
    /// What the PIN must satisfy (length, alphabet, and who imposed the minimum).
    pub requirements: PinRequirements,
    /// Why the previous answer was refused (never contains the PIN).
    pub previous_problem: Option<String>,
}

/// A request for a key's current PIN.
#[derive(Debug, Clone)]
pub struct CurrentPinRequest {
    /// The user (UPN).
    pub user: String,
    /// The key's path.
    pub key: String,
    /// Attempts left before the key locks, when known.
    pub retries_left: Option<u8>,
    /// Why the PIN is needed, in words.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_policy_override_round_trips_through_its_text() {
        let o = PinPolicyOverride::parse("12 alphanumeric min_length=6 random").unwrap();
        assert_eq!(PinPolicyOverride::parse(&o.to_text()).unwrap(), o);
        assert_eq!(PinPolicyOverride::default().to_text(), "");
    }

    #[test]
    fn pin_policy_override_text_form() {
        let o = PinPolicyOverride::parse("alphanumeric, length=10").unwrap();
        assert_eq!(o.alphabet, Some(PinAlphabet::Alphanumeric));
        assert_eq!(o.length, Some(10));
        let o = PinPolicyOverride::parse("12 digits user-at-desk").unwrap();
        assert_eq!((o.length, o.alphabet, o.source), (Some(12), Some(PinAlphabet::Digits), Some(PinSource::UserAtDesk)));
        assert!(PinPolicyOverride::parse("").unwrap().is_empty());
        assert!(PinPolicyOverride::parse("length=3").unwrap_err().contains("4 to 63"));
        assert!(PinPolicyOverride::parse("colour=red").unwrap_err().contains("unknown"));
        assert!(PinPolicyOverride::parse("emoji").unwrap_err().contains("not understood"));
    }

    #[test]
    fn debug_hides_pins() {
        let mut s = JobSpec::new(JobMode::Enroll, "a@b");
        s.pin = PinChoice::Chosen(SecretString::new("735194"));
        s.current_pin = Some(SecretString::new("246813"));
        let d = format!("{s:?}");
        assert!(!d.contains("735194") && !d.contains("246813"), "{d}");
    }
}
