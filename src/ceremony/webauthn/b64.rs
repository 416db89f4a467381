//! base64url without padding: the encoding WebAuthn uses for every binary member of
//! its JSON forms (challenge, user.id, credential ids, clientDataJSON, ...).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encode bytes as base64url without `=` padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding. Padding, `+`/`/` and whitespace are refused:
/// the bridge script and WebAuthn's JSON forms never produce them, so seeing one means
/// the input did not come from where we think it did.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_without_padding() {
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("-_8").unwrap(), b"\xfb\xff");
        assert_eq!(encode(b""), "");
    }

    #[test]
    fn refuses_padding_and_standard_alphabet() {
        assert!(decode("-_8=").is_err());
        assert!(decode("+/8").is_err());
        assert!(decode("a b").is_err());
    }
}
