//! The base64 dialects found around Entra's FIDO2 APIs: base64url without padding (the
//! documented form), base64url with `=` padding (tolerated on request), standard base64
//! with padding (real `excludeCredentials`), and base64url followed by a digit giving the
//! padding count (beta `excludeCredentials`, method ids).
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with `+`, `/` and `=` padding.
pub fn b64_standard(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// base64url without padding plus one digit: how many `=` the padded form would have.
pub fn b64url_padding_digit(bytes: &[u8]) -> String {
    let pad = (3 - bytes.len() % 3) % 3;
    format!("{}{pad}", b64url(bytes))
}

/// Strict base64url: URL alphabet only, no padding, canonical trailing bits.
pub fn decode_b64url_strict(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// base64url that may carry `=` padding (still the URL alphabet only).
pub fn decode_b64url_lenient(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.contains('=') {
        return None;
    }
    if text.len() != trimmed.len() && !text.len().is_multiple_of(4) {
        return None;
    }
    URL_SAFE_NO_PAD.decode(trimmed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_round_trip() {
        let data = [0xfbu8, 0xff, 0xbf, 0x01];
        assert_eq!(b64url(&data), "-_-_AQ");
        assert_eq!(b64_standard(&data), "+/+/AQ==");
        assert_eq!(b64url_padding_digit(&data), "-_-_AQ2");
        assert_eq!(decode_b64url_strict("-_-_AQ").unwrap(), data);
        assert!(decode_b64url_strict("-_-_AQ==").is_none());
        assert_eq!(decode_b64url_lenient("-_-_AQ==").unwrap(), data);
        assert!(decode_b64url_lenient("+/+/AQ==").is_none());
        assert!(decode_b64url_lenient("-_-_AQ=").is_none());
    }
}
