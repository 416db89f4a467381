//! PINs: what a PIN for this key and this tenant must look like, random generation,
//! and the checks applied to PINs users choose at the desk.
//!
//! ```text
//! let req = PinRequirements::new(&config.pin, info.min_pin_length, tenant.min_pin_length)?;
//! let pin = generate(&req)?;                 // random source
//! check_user_pin(&typed, &req)?;             // user-at-desk source
//! ```
//! Lengths are counted in Unicode code points, as CTAP2 counts the minimum; the maximum
//! is 63 bytes of UTF-8, as CTAP2 limits it. PINs are always [`SecretString`]s.
pub mod generate;
pub mod trivial;
mod check;

pub use check::{check_user_pin, CharProblem, PinRejection};
pub use trivial::TrivialReason;

use crate::secret::SecretString;
use crate::station::config::PinPolicy;
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

/// CTAP2's floor for a PIN: 4 code points.
pub const CTAP_MIN_PIN_CODEPOINTS: usize = 4;
/// CTAP2's ceiling for a PIN: 63 bytes of UTF-8.
pub const CTAP_MAX_PIN_BYTES: usize = 63;

/// Which characters a PIN uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinAlphabet {
    /// 0-9: works on every keyboard and phone keypad.
    Digits,
    /// Generated: [`generate::UNAMBIGUOUS_ALPHANUMERIC`]. Chosen at the desk: printable
    /// ASCII without spaces.
    Alphanumeric,
}

impl PinAlphabet {
    /// The symbols random PINs are drawn from.
    pub fn symbols(self) -> &'static str {
        match self {
            PinAlphabet::Digits => generate::DIGITS,
            PinAlphabet::Alphanumeric => generate::UNAMBIGUOUS_ALPHANUMERIC,
        }
    }
}

/// Where the PIN comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinSource {
    /// The station draws a random PIN and hands it over once.
    Random,
    /// The user types a PIN of their choice at the desk.
    UserAtDesk,
}

/// Who set the minimum length that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MinLengthSource {
    /// The CTAP2 floor of 4.
    Ctap,
    /// The station's own PIN policy (`pin.length` / `pin.min_length`).
    StationPolicy,
    /// The minimum the station will set on the key (`pin.set_min_length_on_key`).
    KeyConfiguration,
    /// The key's current minimum (getInfo `minPINLength`).
    Key,
    /// The tenant's rule (`tenant.min_pin_length`).
    Tenant,
}

impl MinLengthSource {
    /// Words for the user: why the PIN must be this long.
    pub fn explain(self) -> &'static str {
        match self {
            MinLengthSource::Ctap => "FIDO2 keys require it",
            MinLengthSource::StationPolicy | MinLengthSource::KeyConfiguration => "this station's PIN policy requires it",
            MinLengthSource::Key => "this key requires it",
            MinLengthSource::Tenant => "your organisation requires it",
        }
    }
}

/// What a PIN for one key and one tenant must satisfy, resolved from the station's
/// policy, the key's getInfo and the tenant's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinRequirements {
    /// Shortest PIN a user may choose, in code points.
    pub min_length: usize,
    /// Who imposed `min_length` (the largest contributor).
    pub min_length_source: MinLengthSource,
    /// Length of generated PINs (never below `min_length`'s sources other than the
    /// user-PIN minimum).
    pub generated_length: usize,
    /// Character set.
    pub alphabet: PinAlphabet,
}

/// PIN generation or requirement errors (configuration or key contradictions).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PinError {
    /// The key or tenant demands more than CTAP2 can carry.
    #[error("a PIN of at least {min} characters is required ({}), but FIDO2 PINs are limited to 63 bytes; lower the setting or use another key model", .imposed_by.explain())]
    MinimumTooHigh {
        /// Required minimum.
        min: usize,
        /// Who required it.
        imposed_by: MinLengthSource,
    },
    /// Generation kept producing trivial PINs (only possible with a broken RNG).
    #[error("could not draw a PIN that passes the trivial-PIN rules after {0} attempts; the random number generator looks broken")]
    Exhausted(usize),
}

impl PinRequirements {
    /// Combine the station policy with the key's minimum (getInfo `minPINLength`, 4 when
    /// the key does not report one) and the tenant's rule.
    pub fn new(policy: &PinPolicy, key_min_pin_length: u8, tenant_min_pin_length: Option<u32>) -> Result<PinRequirements, PinError> {
        // Floors shared by both sources: CTAP, the key, the tenant and the minimum the
        // station is about to configure on the key (a PIN below it would be forced to change).
        let mut floors = vec![(CTAP_MIN_PIN_CODEPOINTS, MinLengthSource::Ctap), (usize::from(key_min_pin_length), MinLengthSource::Key)];
        if let Some(t) = tenant_min_pin_length {
            floors.push((t as usize, MinLengthSource::Tenant));
        }
        if let Some(k) = policy.set_min_length_on_key {
            floors.push((k as usize, MinLengthSource::KeyConfiguration));
        }
        let pick = |extra: (usize, MinLengthSource)| -> (usize, MinLengthSource) {
            // Later entries win ties so the most specific reason is reported.
            let mut best = (0, MinLengthSource::Ctap);
            for f in floors.iter().copied().chain(std::iter::once(extra)) {
                if f.0 >= best.0 {
                    best = f;
                }
            }
            best
        };
        let user = pick((policy.min_length as usize, MinLengthSource::StationPolicy));
        let generated = pick((policy.length as usize, MinLengthSource::StationPolicy));
        for (len, source) in [user, generated] {
            if len > CTAP_MAX_PIN_BYTES {
                return Err(PinError::MinimumTooHigh { min: len, imposed_by: source });
            }
        }
        Ok(PinRequirements { min_length: user.0, min_length_source: user.1, generated_length: generated.0, alphabet: policy.alphabet })
    }
}

/// A random PIN meeting `req`, from the operating system's CSPRNG.
pub fn generate(req: &PinRequirements) -> Result<SecretString, PinError> {
    generate_with(req, &mut OsRng)
}

/// A random PIN meeting `req` from the given cryptographic RNG (tests pass a seeded one).
/// Draws again until the PIN passes the [`trivial`] rules.
pub fn generate_with<R: RngCore + CryptoRng>(req: &PinRequirements, rng: &mut R) -> Result<SecretString, PinError> {
    const ATTEMPTS: usize = 1000;
    for _ in 0..ATTEMPTS {
        let candidate = generate::random_string(rng, req.alphabet.symbols(), req.generated_length);
        if trivial::check(&candidate).is_none() {
            return Ok(SecretString::new(candidate.as_str()));
        }
    }
    Err(PinError::Exhausted(ATTEMPTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(length: u32, min_length: u32, on_key: Option<u32>) -> PinPolicy {
        PinPolicy { length, min_length, set_min_length_on_key: on_key, ..PinPolicy::default() }
    }

    #[test]
    fn the_largest_floor_wins_and_says_who_set_it() {
        let r = PinRequirements::new(&policy(8, 6, None), 4, None).unwrap();
        assert_eq!((r.min_length, r.min_length_source, r.generated_length), (6, MinLengthSource::StationPolicy, 8));
        let r = PinRequirements::new(&policy(6, 6, None), 10, None).unwrap();
        assert_eq!((r.min_length, r.min_length_source, r.generated_length), (10, MinLengthSource::Key, 10));
        let r = PinRequirements::new(&policy(6, 6, None), 4, Some(12)).unwrap();
        assert_eq!((r.min_length, r.min_length_source, r.generated_length), (12, MinLengthSource::Tenant, 12));
        let r = PinRequirements::new(&policy(6, 4, Some(8)), 4, None).unwrap();
        assert_eq!((r.min_length, r.min_length_source, r.generated_length), (8, MinLengthSource::KeyConfiguration, 8));
    }

    #[test]
    fn impossible_minimum_is_an_error_that_names_the_source() {
        let e = PinRequirements::new(&policy(8, 6, None), 64, None).unwrap_err();
        assert_eq!(e, PinError::MinimumTooHigh { min: 64, imposed_by: MinLengthSource::Key });
        assert!(e.to_string().contains("this key requires it"), "{e}");
    }

    #[test]
    fn generated_pins_have_the_length_alphabet_and_are_not_trivial() {
        for alphabet in [PinAlphabet::Digits, PinAlphabet::Alphanumeric] {
            let req = PinRequirements { min_length: 4, min_length_source: MinLengthSource::Ctap, generated_length: 4, alphabet };
            for _ in 0..2000 {
                let pin = generate(&req).unwrap();
                assert_eq!(pin.expose().chars().count(), 4);
                assert!(pin.expose().chars().all(|c| alphabet.symbols().contains(c)));
                assert_eq!(trivial::check(pin.expose()), None);
                assert!(check_user_pin(&pin, &req).is_ok());
            }
        }
    }

    #[test]
    fn respects_key_minimum_when_generating() {
        let req = PinRequirements::new(&policy(6, 6, None), 9, None).unwrap();
        assert_eq!(generate(&req).unwrap().expose().len(), 9);
    }
}
