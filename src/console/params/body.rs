//! The JSON forms the pages post. Each is a small object with known fields; anything
//! else (another type, an unknown field, an oversized value) is refused with a message.
//! Secret fields become [`SecretString`] at once and are never echoed in an error.
use super::{plain_text, BadInput};
use crate::secret::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The largest form body accepted, in bytes.
pub const MAX_FORM_BYTES: usize = 8 * 1024;
/// The longest user name accepted (Entra's UPN limit is 113 for the local part + domain).
pub const MAX_USER_CHARS: usize = 256;
/// The longest secret accepted (a PIN is at most 63 bytes; passwords a little longer).
pub const MAX_SECRET_BYTES: usize = 512;
/// The longest operator note.
pub const MAX_NOTE_CHARS: usize = 1000;

fn parse<T: DeserializeOwned>(bytes: &[u8], fields: &str) -> Result<T, BadInput> {
    if bytes.len() > MAX_FORM_BYTES {
        return Err(BadInput(format!("the request is too large: at most {MAX_FORM_BYTES} bytes")));
    }
    // serde's message may quote the offending value, which could be a secret: it is
    // never passed on; the page gets the expected shape instead.
    serde_json::from_slice(bytes).map_err(|_| BadInput(format!("the request is not understood: expected a JSON object with {fields}")))
}

fn secret(what: &str, value: String) -> Result<SecretString, BadInput> {
    let value = SecretString::new(value);
    if value.is_empty() {
        return Err(BadInput(format!("the {what} is empty")));
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(BadInput(format!("the {what} is too long")));
    }
    Ok(value)
}

/// How a browser signs in.
#[derive(Debug)]
pub enum SignIn {
    /// With the launch token from the link keystation printed or opened.
    Token(SecretString),
    /// With the operator password.
    Password(SecretString),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInForm {
    token: Option<String>,
    password: Option<String>,
}

/// `{"token": "…"}` or `{"password": "…"}`.
pub fn sign_in(bytes: &[u8]) -> Result<SignIn, BadInput> {
    let f: SignInForm = parse(bytes, "`token` or `password`")?;
    match (f.token, f.password) {
        (Some(t), None) => Ok(SignIn::Token(secret("token", t)?)),
        (None, Some(p)) => Ok(SignIn::Password(secret("password", p)?)),
        _ => Err(BadInput("give either `token` or `password`".into())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserForm {
    user: String,
}

/// `{"user": "alice@contoso.com"}`: what was typed or scanned as the user name, trimmed.
/// It may still be the exit sequence; the caller checks that before anything else.
pub fn user(bytes: &[u8]) -> Result<SecretString, BadInput> {
    let f: UserForm = parse(bytes, "`user`")?;
    // Kept as a secret until it is known not to be the exit sequence.
    let text = SecretString::new(f.user.trim());
    if text.is_empty() {
        return Err(BadInput("type or scan your user name first".into()));
    }
    if text.expose().chars().count() > MAX_USER_CHARS || text.expose().chars().any(char::is_control) {
        return Err(BadInput(format!("that is not a user name: use name@domain, at most {MAX_USER_CHARS} characters")));
    }
    Ok(text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinForm {
    pin: String,
}

/// `{"pin": "…"}`: a PIN typed at the desk (the user's own, or the operator's). Its
/// rules are checked by the station, not here: only emptiness and size.
pub fn pin(bytes: &[u8]) -> Result<SecretString, BadInput> {
    let f: PinForm = parse(bytes, "`pin`")?;
    secret("PIN", f.pin)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

/// `{"note": "…"}` or `{}`: an operator's note on a parked job (what was done with the
/// key), kept in the job's history; `None` when empty. Plain text on one line.
pub fn note(bytes: &[u8]) -> Result<Option<String>, BadInput> {
    let f: NoteForm = parse(bytes, "`note`")?;
    let note = f.note.trim().to_string();
    if note.is_empty() {
        return Ok(None);
    }
    plain_text("the note", &note, MAX_NOTE_CHARS)?;
    Ok(Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms_parse_and_refuse_clearly() {
        assert!(matches!(sign_in(br#"{"token":"abc"}"#), Ok(SignIn::Token(t)) if t.expose() == "abc"));
        assert!(matches!(sign_in(br#"{"password":"pw"}"#), Ok(SignIn::Password(_))));
        assert!(sign_in(br#"{"token":"a","password":"b"}"#).unwrap_err().0.contains("either"));
        assert!(sign_in(br#"{"token":""}"#).unwrap_err().0.contains("empty"));
        assert!(sign_in(br#"{"tokn":"a"}"#).unwrap_err().0.contains("`token` or `password`"));
        assert_eq!(user(br#"{"user":"  alice@contoso.test "}"#).unwrap().expose(), "alice@contoso.test");
        assert!(user(br#"{"user":"a\tb@c.d"}"#).is_err());
        assert!(user(br#"{"user":"   "}"#).unwrap_err().0.contains("first"));
        assert_eq!(pin(br#"{"pin":"1357"}"#).unwrap().expose(), "1357");
        assert_eq!(note(br#"{"note":" reset and reused "}"#).unwrap().as_deref(), Some("reset and reused"));
        assert_eq!(note(br#"{}"#).unwrap(), None);
        assert_eq!(note(br#"{"note":"   "}"#).unwrap(), None);
        assert!(note(br#"{"note":7}"#).unwrap_err().0.contains("`note`"));
        assert!(note(br#"{"note":"a\nb"}"#).is_err());
        assert!(pin(&vec![b' '; MAX_FORM_BYTES + 1]).unwrap_err().0.contains("too large"));
    }

    #[test]
    fn errors_never_quote_a_secret() {
        for body in [&br#"{"pin": 12345678}"#[..], br#"{"pin":"12345678","x":1}"#, br#"{"password":["12345678"]}"#, br#"{"pin":"12345678""#] {
            let e = if body.starts_with(br#"{"pass"#) { sign_in(body).unwrap_err() } else { pin(body).unwrap_err() };
            assert!(!e.0.contains("12345678"), "{}", e.0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        // Arbitrary bytes: an answer, never a panic, and never the bytes themselves.
        #[test]
        fn arbitrary_bodies_are_refused_cleanly(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            for result in [pin(&body).map(|_| ()), user(&body).map(|_| ()), sign_in(&body).map(|_| ()), note(&body).map(|_| ())] {
                if let Err(e) = result {
                    prop_assert!(!e.0.is_empty());
                    if body.len() >= 16 {
                        let text = String::from_utf8_lossy(&body);
                        prop_assert!(!e.0.contains(text.as_ref()));
                    }
                }
            }
        }

        // Well-formed forms round-trip whatever the (JSON-escaped) value.
        #[test]
        fn any_pin_text_round_trips(p in "\\PC{1,60}") {
            let body = serde_json::json!({"pin": p}).to_string();
            let got = pin(body.as_bytes()).unwrap();
            prop_assert_eq!(got.expose(), p.as_str());
        }

        #[test]
        fn notes_are_trimmed_plain_text(n in "[ ]{0,2}[A-Za-z0-9][A-Za-z0-9 .,:;'()/#-]{0,80}[ ]{0,2}") {
            let body = serde_json::json!({"note": n}).to_string();
            let got = note(body.as_bytes()).unwrap();
            prop_assert_eq!(got.as_deref(), Some(n.trim()));
        }

        #[test]
        fn user_names_are_trimmed_plain_text(u in "[ ]{0,2}[a-z0-9._'-]{1,40}@[a-z0-9.-]{1,30}[ ]{0,2}") {
            let body = serde_json::json!({"user": u}).to_string();
            let got = user(body.as_bytes()).unwrap();
            prop_assert_eq!(got.expose(), u.trim());
        }
    }
}
