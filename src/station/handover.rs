//! Getting the PIN to its user: a handover slip shown once, and optionally a copy
//! sealed with age to the help desk's X25519 recipients.
//!
//! A PIN at rest only ever exists as ASCII-armored age ciphertext ([`SealedPin`]) in the
//! journal and the report; the clear PIN lives in memory ([`SecretString`]) until the
//! slip is rendered, and rendering consumes the slip so it cannot be shown twice. Only
//! the holder of a matching `AGE-SECRET-KEY-1…` identity can open a sealed PIN
//! (`age -d -i desk.key`, or [`open_sealed_pin`]).
use crate::text::inert;
use crate::secret::SecretString;
use age::x25519;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::str::FromStr;
use zeroize::Zeroizing;

const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";

/// Errors while sealing or opening a PIN. Messages never contain the PIN.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// No recipient to seal to.
    #[error("no age recipients are configured (handover.recipients), so the PIN cannot be sealed")]
    NoRecipients,
    /// age refused to encrypt or an I/O error happened on the in-memory buffer.
    #[error("sealing the PIN with age failed: {0}")]
    Seal(String),
    /// The text is not an armored age file.
    #[error("this is not an ASCII-armored age file (it should start with {ARMOR_BEGIN})")]
    NotArmored,
    /// Wrong identity, damaged ciphertext, or not age at all.
    #[error("cannot open the sealed PIN: {0}")]
    Open(String),
}

/// A PIN encrypted with age to one or more X25519 recipients, ASCII-armored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedPin(String);

impl SealedPin {
    /// The armored text (`-----BEGIN AGE ENCRYPTED FILE-----` …).
    pub fn as_armored(&self) -> &str {
        &self.0
    }

    /// Wrap armored text read back from the journal.
    pub fn from_armored(text: impl Into<String>) -> Result<SealedPin, HandoverError> {
        let text = text.into();
        if !text.trim_start().starts_with(ARMOR_BEGIN) {
            return Err(HandoverError::NotArmored);
        }
        Ok(SealedPin(text))
    }
}

/// Parse `age1…` recipient strings; the error names the entry that is wrong.
pub fn parse_recipients(list: &[String]) -> Result<Vec<x25519::Recipient>, String> {
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            x25519::Recipient::from_str(r.trim()).map_err(|_| {
                format!("entry {} ({:?}) is not an age X25519 recipient: expected \"age1…\" as printed by `age-keygen` (SSH keys and passphrases are not supported)", i + 1, r)
            })
        })
        .collect()
}

/// Encrypt `pin` to every recipient (any one of their identities opens it).
pub fn seal_pin(pin: &SecretString, recipients: &[x25519::Recipient]) -> Result<SealedPin, HandoverError> {
    if recipients.is_empty() {
        return Err(HandoverError::NoRecipients);
    }
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| HandoverError::Seal(e.to_string()))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| HandoverError::Seal(e.to_string()))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| HandoverError::Seal(e.to_string()))?;
    writer.write_all(pin.expose().as_bytes()).map_err(|e| HandoverError::Seal(e.to_string()))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| HandoverError::Seal(e.to_string()))?;
    let text = String::from_utf8(out).map_err(|_| HandoverError::Seal("armored output is not text".into()))?;
    Ok(SealedPin(text))
}

/// Decrypt a sealed PIN with an identity (`AGE-SECRET-KEY-1…`).
pub fn open_sealed_pin(sealed: &SealedPin, identity: &x25519::Identity) -> Result<SecretString, HandoverError> {
    let reader = age::armor::ArmoredReader::new(sealed.0.as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| HandoverError::Open(e.to_string()))?;
    let mut plain = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| HandoverError::Open(e.to_string()))?;
    let mut bytes = Zeroizing::new(Vec::new());
    plain.read_to_end(&mut bytes).map_err(|e| HandoverError::Open(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| HandoverError::Open("the plaintext is not UTF-8".into()))?;
    Ok(SecretString::new(text))
}

/// A Temporary Access Pass printed on the slip for the user's first sign-in.
#[derive(Debug)]
pub struct HandoverTap {
    /// The pass.
    pub pass: SecretString,
    /// When it stops working.
    pub valid_until: DateTime<Utc>,
    /// Usable once only.
    pub one_time: bool,
}

/// Everything on a handover slip. Rendering consumes it: the PIN is shown once.
#[derive(Debug)]
pub struct HandoverSlip {
    /// UPN.
    pub user: String,
    /// The key's model name.
    pub key_model: String,
    /// Serial number, when known.
    pub key_serial: Option<String>,
    /// The name the key has in Entra (Security info).
    pub display_name: Option<String>,
    /// The PIN; `None` when the user chose it at the desk.
    pub pin: Option<SecretString>,
    /// The key will ask for a new PIN on first use.
    pub force_change: bool,
    /// A TAP for the first sign-in.
    pub tap: Option<HandoverTap>,
    /// Number of age recipients holding a sealed copy (0: nowhere).
    pub sealed_to: usize,
}

impl HandoverSlip {
    /// The slip as text for the screen or a printer. Returned as a secret: it contains
    /// the PIN (and the TAP). The slip is consumed.
    pub fn render(self) -> SecretString {
        // Room for the whole slip up front: a reallocation would leave a copy of the PIN
        // in freed memory that nothing wipes.
        let mut s = Zeroizing::new(String::with_capacity(4096));
        let rule = "=".repeat(64);
        let line = |s: &mut String, label: &str, value: &str| {
            s.push_str("  ");
            s.push_str(label);
            s.push_str(&" ".repeat(15usize.saturating_sub(label.chars().count())));
            s.push_str(value);
            s.push('\n');
        };
        s.push_str(&format!("{rule}\n  keystation: security key handover\n{rule}\n"));
        // The user, the key's strings and the name come from outside: one inert line each.
        line(&mut s, "User", &inert(&self.user));
        let key = match &self.key_serial {
            Some(serial) => format!("{} (serial {})", inert(&self.key_model), inert(serial)),
            None => inert(&self.key_model).into_owned(),
        };
        line(&mut s, "Key", &key);
        if let Some(n) = &self.display_name {
            line(&mut s, "Name in Entra", &inert(n));
        }
        match &self.pin {
            Some(pin) => {
                line(&mut s, "PIN", pin.expose());
                if self.force_change {
                    line(&mut s, "", "You will be asked to change this PIN the first time you use the key.");
                }
            }
            None => line(&mut s, "PIN", "the one you chose at the desk"),
        }
        if let Some(tap) = &self.tap {
            let kind = if tap.one_time { "one-time" } else { "reusable" };
            let mut pass = Zeroizing::new(String::with_capacity(64 + tap.pass.len()));
            pass.push_str("Temporary Access Pass ");
            pass.push_str(tap.pass.expose());
            line(&mut s, "First sign-in", &pass);
            line(&mut s, "", &format!("({kind}, valid until {} UTC)", tap.valid_until.format("%Y-%m-%d %H:%M")));
        }
        s.push_str(&format!("{rule}\n"));
        if self.pin.is_some() {
            s.push_str("  Keep this PIN private. It is shown only this once.\n");
            if self.sealed_to > 0 {
                s.push_str("  An encrypted copy is kept for the help desk.\n");
            } else {
                s.push_str("  It is not stored anywhere: if it is lost, the key must be reset.\n");
            }
        }
        s.push_str("  Never give your PIN to anyone, including IT staff.\n");
        s.push_str(&format!("{rule}\n"));
        SecretString::new(s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_with_two_recipients() {
        let desk = x25519::Identity::generate();
        let backup = x25519::Identity::generate();
        let stranger = x25519::Identity::generate();
        let pin = SecretString::new("73941826");
        let sealed = seal_pin(&pin, &[desk.to_public(), backup.to_public()]).unwrap();
        assert!(sealed.as_armored().starts_with(ARMOR_BEGIN));
        assert!(!sealed.as_armored().contains("73941826"));
        assert_eq!(open_sealed_pin(&sealed, &desk).unwrap().expose(), "73941826");
        assert_eq!(open_sealed_pin(&sealed, &backup).unwrap().expose(), "73941826");
        assert!(matches!(open_sealed_pin(&sealed, &stranger), Err(HandoverError::Open(_))));
    }

    #[test]
    fn recipients_are_checked_with_the_bad_entry_named() {
        let ok = x25519::Identity::generate().to_public().to_string();
        assert_eq!(parse_recipients(std::slice::from_ref(&ok)).unwrap().len(), 1);
        let e = parse_recipients(&[ok, "ssh-ed25519 AAAA".into()]).unwrap_err();
        assert!(e.starts_with("entry 2") && e.contains("age1"), "{e}");
        assert!(matches!(seal_pin(&SecretString::new("1"), &[]), Err(HandoverError::NoRecipients)));
        assert!(matches!(SealedPin::from_armored("hello"), Err(HandoverError::NotArmored)));
    }

    #[test]
    fn slip_shows_pin_change_note_and_tap() {
        let slip = HandoverSlip {
            user: "ada@contoso.example".into(),
            key_model: "YubiKey 5 NFC".into(),
            key_serial: Some("12345678".into()),
            display_name: Some("YubiKey 5 NFC 12345678".into()),
            pin: Some(SecretString::new("73941826")),
            force_change: true,
            tap: Some(HandoverTap { pass: SecretString::new("Xy7!abcd"), valid_until: DateTime::from_timestamp(1_800_000_000, 0).unwrap(), one_time: true }),
            sealed_to: 0,
        };
        assert!(!format!("{slip:?}").contains("73941826"), "Debug must not show the PIN");
        let text = slip.render();
        let t = text.expose();
        assert!(t.contains("PIN            73941826"), "{t}");
        assert!(t.contains("change this PIN the first time"));
        assert!(t.contains("Temporary Access Pass Xy7!abcd") && t.contains("one-time"));
        assert!(t.contains("not stored anywhere"));
        assert!(t.contains("YubiKey 5 NFC (serial 12345678)"));
    }
}
