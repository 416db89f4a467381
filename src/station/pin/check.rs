//! Checks for a PIN a user chooses at the desk, with messages that say what to do.
use super::{trivial, MinLengthSource, PinAlphabet, PinRequirements, TrivialReason, CTAP_MAX_PIN_BYTES};
use crate::secret::SecretString;

/// What kind of character made a PIN unacceptable. Never the character itself: the
/// message may be shown on a screen others can see or end up in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharProblem {
    /// A space, tab, newline or other invisible character.
    SpaceOrControl,
    /// A letter with an accent, another script, an emoji… (not typeable everywhere,
    /// and normalisation differences would lock the user out).
    NonAscii,
    /// A non-digit in a digits-only policy.
    NotADigit,
}

/// Why a user's PIN was refused. `Display` is the message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinRejection {
    /// Fewer code points than required.
    #[error("This PIN is too short: use at least {min} characters ({}).", .because.explain())]
    TooShort {
        /// Minimum, in characters.
        min: usize,
        /// Who requires it.
        because: MinLengthSource,
    },
    /// More than CTAP2's 63 bytes.
    #[error("This PIN is too long: FIDO2 keys take at most 63 bytes and this one has {bytes}. Use a shorter PIN.")]
    TooLong {
        /// UTF-8 length of the refused PIN.
        bytes: usize,
    },
    /// A character class that is not allowed.
    #[error("{}", describe_char_problem(*.0))]
    NotAllowed(CharProblem),
    /// Too easy to guess.
    #[error("This PIN is too easy to guess: {0}. Choose one without repeats, sequences or dates.")]
    Trivial(TrivialReason),
}

fn describe_char_problem(p: CharProblem) -> &'static str {
    match p {
        CharProblem::SpaceOrControl => "This PIN contains a space or an invisible character. Use only letters, digits and punctuation.",
        CharProblem::NonAscii => "This PIN contains a character that is not on every keyboard (an accent, another alphabet or a symbol). Use only A-Z, a-z, 0-9 and punctuation.",
        CharProblem::NotADigit => "This PIN may contain digits only (0-9).",
    }
}

/// Check a PIN typed at the desk against `req`. Checks characters first (they are the
/// easiest to fix), then length, then the trivial-PIN rules.
pub fn check_user_pin(pin: &SecretString, req: &PinRequirements) -> Result<(), PinRejection> {
    let text = pin.expose();
    for c in text.chars() {
        let problem = if c.is_whitespace() || c.is_control() {
            Some(CharProblem::SpaceOrControl)
        } else if !c.is_ascii() {
            Some(CharProblem::NonAscii)
        } else if req.alphabet == PinAlphabet::Digits && !c.is_ascii_digit() {
            Some(CharProblem::NotADigit)
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(PinRejection::NotAllowed(p));
        }
    }
    if text.len() > CTAP_MAX_PIN_BYTES {
        return Err(PinRejection::TooLong { bytes: text.len() });
    }
    if text.chars().count() < req.min_length {
        return Err(PinRejection::TooShort { min: req.min_length, because: req.min_length_source });
    }
    if let Some(reason) = trivial::check(text) {
        return Err(PinRejection::Trivial(reason));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(alphabet: PinAlphabet, min: usize, because: MinLengthSource) -> PinRequirements {
        PinRequirements { min_length: min, min_length_source: because, generated_length: min, alphabet }
    }

    fn reject(pin: &str, r: &PinRequirements) -> PinRejection {
        let e = check_user_pin(&SecretString::new(pin), r).unwrap_err();
        assert!(!e.to_string().contains(pin), "message leaks the PIN: {e}");
        e
    }

    #[test]
    fn messages_say_what_to_do() {
        let digits = req(PinAlphabet::Digits, 8, MinLengthSource::Key);
        let e = reject("739418", &digits);
        assert_eq!(e, PinRejection::TooShort { min: 8, because: MinLengthSource::Key });
        assert_eq!(e.to_string(), "This PIN is too short: use at least 8 characters (this key requires it).");
        assert_eq!(reject("7394 1826", &digits), PinRejection::NotAllowed(CharProblem::SpaceOrControl));
        assert_eq!(reject("7394x826", &digits), PinRejection::NotAllowed(CharProblem::NotADigit));
        assert!(reject("7394x826", &digits).to_string().contains("digits only"));
        assert_eq!(reject("12345678", &digits), PinRejection::Trivial(TrivialReason::Sequence));
        assert_eq!(reject("25031985", &digits), PinRejection::Trivial(TrivialReason::LooksLikeDate));
        assert!(check_user_pin(&SecretString::new("73941826"), &digits).is_ok());
    }

    #[test]
    fn alphanumeric_accepts_punctuation_but_not_accents() {
        let alnum = req(PinAlphabet::Alphanumeric, 6, MinLengthSource::Tenant);
        assert!(check_user_pin(&SecretString::new("k7#Mq9!x"), &alnum).is_ok());
        assert_eq!(reject("kä7Mq9!x", &alnum), PinRejection::NotAllowed(CharProblem::NonAscii));
        assert_eq!(reject("k7M\tq9!x", &alnum), PinRejection::NotAllowed(CharProblem::SpaceOrControl));
        assert!(reject("k7Mq", &alnum).to_string().contains("your organisation requires it"));
    }

    #[test]
    fn length_limits_are_63_bytes() {
        let alnum = req(PinAlphabet::Alphanumeric, 4, MinLengthSource::Ctap);
        let ok: String = "k7Mq9x2B".repeat(8)[..63].to_string();
        assert!(check_user_pin(&SecretString::new(ok.clone()), &alnum).is_ok());
        let long = format!("{ok}Z");
        assert_eq!(reject(&long, &alnum), PinRejection::TooLong { bytes: 64 });
    }
}
