//! clientDataJSON, byte for byte as Chromium builds it
//! (`content/browser/webauth/client_data_json.cc`).
//!
//! Chromium does not use a general JSON serialiser: it appends members in a fixed order
//! (`type`, `challenge`, `origin`, `crossOrigin`, then `topOrigin` for cross-origin
//! frames) and escapes strings with the rules of WebAuthn's CCDToString (w3c/webauthn
//! PR 1375): `"` and `\` get a backslash, every other code point below U+0020 becomes
//! `\u00xx` in lower-case hex, everything else (including U+007F and all non-ASCII) is
//! copied verbatim. In 20 % of requests Chromium also appends an
//! `other_keys_can_be_added_here` member so that servers do not compare clientDataJSON
//! against a template; [`TemplateGrease`] decides whether keystation does the same.
use super::b64;
use super::origin::Origin;
use sha2::{Digest, Sha256};

/// Whether to append Chromium's `other_keys_can_be_added_here` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TemplateGrease {
    /// Never (deterministic output; what keystation uses by default, because a server
    /// that accepts Chromium accepts both shapes and a fixed shape is easier to audit).
    #[default]
    Never,
    /// Always.
    Always,
    /// Like Chromium: with probability 0.2.
    LikeChromium,
}

/// The member Chromium appends (value included) when it greases clientDataJSON.
pub const GREASE_MEMBER: &str =
    r#","other_keys_can_be_added_here":"do not compare clientDataJSON against a template. See https://goo.gl/yabPex""#;

/// Inputs of a `webauthn.create` clientDataJSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData<'a> {
    /// Raw challenge bytes (the page's BufferSource).
    pub challenge: &'a [u8],
    /// The caller's origin, as the browser reports it.
    pub origin: &'a Origin,
    /// `Some(top-level origin)` when the caller is a frame that is not same-origin with
    /// all of its ancestors (then `crossOrigin` is true and `topOrigin` is added).
    pub cross_origin_top: Option<&'a Origin>,
}

impl ClientData<'_> {
    /// Serialise for `navigator.credentials.create` (`type` = `webauthn.create`).
    pub fn to_json_create(&self, grease: TemplateGrease) -> String {
        let mut out = String::with_capacity(128);
        out.push_str(r#"{"type":"webauthn.create""#);
        out.push_str(r#","challenge":"#);
        push_json_string(&mut out, &b64::encode(self.challenge));
        out.push_str(r#","origin":"#);
        push_json_string(&mut out, &self.origin.to_string());
        match self.cross_origin_top {
            Some(top) => {
                out.push_str(r#","crossOrigin":true"#);
                out.push_str(r#","topOrigin":"#);
                push_json_string(&mut out, &top.to_string());
            }
            None => out.push_str(r#","crossOrigin":false"#),
        }
        let add_grease = match grease {
            TemplateGrease::Never => false,
            TemplateGrease::Always => true,
            TemplateGrease::LikeChromium => rand::random::<f64>() < 0.2,
        };
        if add_grease {
            out.push_str(GREASE_MEMBER);
        }
        out.push('}');
        out
    }
}

/// SHA-256 of the exact clientDataJSON bytes: the clientDataHash the key signs.
pub fn client_data_hash(client_data_json: &str) -> [u8; 32] {
    Sha256::digest(client_data_json.as_bytes()).into()
}

/// Append `s` as a JSON string with CCDToString escaping.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let v = c as u32 as usize;
                out.push_str("\\u00");
                out.push(HEX[v >> 4] as char);
                out.push(HEX[v & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    #[test]
    fn same_origin_layout_matches_chromium() {
        let o = origin("https://login.microsoft.com");
        let cd = ClientData { challenge: b"\xfb\xff\x00", origin: &o, cross_origin_top: None };
        assert_eq!(
            cd.to_json_create(TemplateGrease::Never),
            r#"{"type":"webauthn.create","challenge":"-_8A","origin":"https://login.microsoft.com","crossOrigin":false}"#
        );
    }

    #[test]
    fn cross_origin_frames_carry_top_origin() {
        let o = origin("http://localhost:4000");
        let top = origin("https://portal.example");
        let cd = ClientData { challenge: b"hi", origin: &o, cross_origin_top: Some(&top) };
        assert_eq!(
            cd.to_json_create(TemplateGrease::Never),
            r#"{"type":"webauthn.create","challenge":"aGk","origin":"http://localhost:4000","crossOrigin":true,"topOrigin":"https://portal.example"}"#
        );
    }

    #[test]
    fn grease_goes_last_and_is_valid_json() {
        let o = origin("https://login.microsoft.com");
        let cd = ClientData { challenge: b"x", origin: &o, cross_origin_top: None };
        let s = cd.to_json_create(TemplateGrease::Always);
        assert!(s.ends_with(&format!("{GREASE_MEMBER}}}")));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["crossOrigin"], false);
    }

    #[test]
    fn like_chromium_greases_sometimes() {
        let o = origin("https://login.microsoft.com");
        let cd = ClientData { challenge: b"x", origin: &o, cross_origin_top: None };
        let greased = (0..400).filter(|_| cd.to_json_create(TemplateGrease::LikeChromium).contains("other_keys")).count();
        // Binomial(400, 0.2): mean 80, sd 8; these bounds fail with probability < 1e-9.
        assert!((25..=150).contains(&greased), "{greased}");
    }

    #[test]
    fn escaping_follows_ccd_to_string() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\n\u{1}\u{1f} \u{7f}é€😀/");
        assert_eq!(s, "\"a\\\"b\\\\c\\u000a\\u0001\\u001f \u{7f}é€😀/\"");
        // And it is still JSON that decodes to the same string.
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}\u{1f} \u{7f}é€😀/");
    }

    #[test]
    fn hash_is_sha256_of_the_bytes() {
        assert_eq!(
            hex::encode(client_data_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
