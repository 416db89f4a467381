//! Decoding the ids Entra puts in `excludeCredentials`, which come in three encodings:
//! standard base64 with `+`, `/` and `=` padding; base64url without padding; and
//! base64url followed by one digit 0, 1 or 2 giving the number of padding characters
//! that were dropped (the beta documentation's "padding number suffix").
//!
//! A padding-digit string ending in `1` is always also valid plain base64url (with one
//! more byte), so that case is ambiguous; [`decode_credential_id`] then returns both
//! readings. Putting both into an authenticator's exclude list is harmless: an id that
//! does not exist on the key simply matches nothing.
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// A credential id string that is none of the three encodings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not base64, base64url, or base64url with a padding digit")]
pub struct Base64Error(pub String);

/// The reading(s) of a credential id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedId {
    /// The most likely bytes.
    pub primary: Vec<u8>,
    /// The other reading when the text is ambiguous.
    pub alternative: Option<Vec<u8>>,
}

impl DecodedId {
    /// Every reading, primary first.
    pub fn candidates(&self) -> Vec<Vec<u8>> {
        let mut v = vec![self.primary.clone()];
        v.extend(self.alternative.clone());
        v
    }
}

/// Decode one id in any of the three encodings.
pub fn decode_credential_id(text: &str) -> Result<DecodedId, Base64Error> {
    let t = text.trim();
    let err = || Base64Error(t.chars().take(80).collect());
    if t.is_empty() {
        return Err(err());
    }
    // `+`, `/` or `=` only occur in standard base64.
    if t.contains(['+', '/', '=']) {
        let unpadded = t.trim_end_matches('=');
        let padded = format!("{unpadded}{}", "=".repeat((4 - unpadded.len() % 4) % 4));
        return STANDARD.decode(padded).map(|primary| DecodedId { primary, alternative: None }).map_err(|_| err());
    }
    let plain = URL_SAFE_NO_PAD.decode(t).ok();
    let with_digit = padding_digit_reading(t);
    match (plain, with_digit) {
        (Some(p), Some(d)) => Ok(DecodedId { primary: d, alternative: Some(p) }),
        (Some(p), None) => Ok(DecodedId { primary: p, alternative: None }),
        (None, Some(d)) => Ok(DecodedId { primary: d, alternative: None }),
        (None, None) => Err(err()),
    }
}

/// The bytes if `text` is base64url + a padding digit that agrees with its length.
fn padding_digit_reading(text: &str) -> Option<Vec<u8>> {
    let pad: usize = match text.as_bytes().last()? {
        b'0' => 0,
        b'1' => 1,
        b'2' => 2,
        _ => return None,
    };
    // The last byte is ASCII, so this cut is on a character boundary.
    let body = &text[..text.len() - 1];
    if body.is_empty() || !(body.len() + pad).is_multiple_of(4) {
        return None;
    }
    // The strict decoder refuses non-canonical trailing bits, which rules out most
    // accidental readings.
    URL_SAFE_NO_PAD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encodings(id: &[u8]) -> (String, String, String) {
        let url = URL_SAFE_NO_PAD.encode(id);
        let std = STANDARD.encode(id);
        let pad = std.len() - std.trim_end_matches('=').len();
        (std, url.clone(), format!("{url}{pad}"))
    }

    #[test]
    fn all_three_encodings_decode_to_the_same_id() {
        // Lengths covering 0, 1 and 2 padding characters, and bytes that produce + and /.
        for len in [15usize, 16, 17, 32, 33, 64, 65, 66] {
            let id: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(0xF8)).collect();
            let (std, url, digit) = encodings(&id);
            assert_eq!(decode_credential_id(&std).unwrap().primary, id, "std {std}");
            let u = decode_credential_id(&url).unwrap();
            assert!(u.candidates().contains(&id), "url {url}");
            let d = decode_credential_id(&digit).unwrap();
            assert_eq!(d.primary, id, "digit form {digit}");
        }
    }

    #[test]
    fn unambiguous_forms_have_one_reading() {
        let id = [0xfbu8; 32]; // base64 uses + and / here
        let (std, url, _) = encodings(&id);
        assert!(std.contains('+') || std.contains('/'));
        assert_eq!(decode_credential_id(&std).unwrap().alternative, None);
        // 32 bytes need one '=': the unpadded url form is 43 chars and cannot carry a digit.
        let d = decode_credential_id(&url).unwrap();
        assert_eq!(d.primary, id.to_vec());
        // 33 bytes need no padding; a trailing '0' digit makes the length invalid for plain base64url.
        let id33 = [7u8; 33];
        let digit = format!("{}0", URL_SAFE_NO_PAD.encode(id33));
        let d = decode_credential_id(&digit).unwrap();
        assert_eq!((d.primary, d.alternative), (id33.to_vec(), None));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "   ", "!!!!", "abc$", "A", "AB=C", "ab cd", "é"] {
            assert!(decode_credential_id(bad).is_err(), "{bad:?}");
        }
    }
}
