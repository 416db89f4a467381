//! CTAP status codes (CTAP 2.1 §8.2 and the CTAPHID error codes they share numbers
//! with): their spec names and what an operator should make of each.

/// Success.
pub const CTAP2_OK: u8 = 0x00;

/// Named status codes keystation treats specially.
pub mod code {
    #![allow(missing_docs)] // the spec names say it all
    pub const INVALID_COMMAND: u8 = 0x01;
    pub const INVALID_PARAMETER: u8 = 0x02;
    pub const CHANNEL_BUSY: u8 = 0x06;
    pub const CREDENTIAL_EXCLUDED: u8 = 0x19;
    pub const UNSUPPORTED_ALGORITHM: u8 = 0x26;
    pub const OPERATION_DENIED: u8 = 0x27;
    pub const KEY_STORE_FULL: u8 = 0x28;
    pub const UNSUPPORTED_OPTION: u8 = 0x2B;
    pub const KEEPALIVE_CANCEL: u8 = 0x2D;
    pub const NO_CREDENTIALS: u8 = 0x2E;
    pub const USER_ACTION_TIMEOUT: u8 = 0x2F;
    pub const NOT_ALLOWED: u8 = 0x30;
    pub const PIN_INVALID: u8 = 0x31;
    pub const PIN_BLOCKED: u8 = 0x32;
    pub const PIN_AUTH_INVALID: u8 = 0x33;
    pub const PIN_AUTH_BLOCKED: u8 = 0x34;
    pub const PIN_NOT_SET: u8 = 0x35;
    pub const PUAT_REQUIRED: u8 = 0x36;
    pub const PIN_POLICY_VIOLATION: u8 = 0x37;
    pub const REQUEST_TOO_LARGE: u8 = 0x39;
    pub const INVALID_SUBCOMMAND: u8 = 0x3E;
    pub const UNAUTHORIZED_PERMISSION: u8 = 0x40;
}

/// The spec name of a status code ("PIN_INVALID"); ranges get a range name.
pub fn status_name(code: u8) -> &'static str {
    match code {
        0x00 => "OK",
        0x01 => "INVALID_COMMAND",
        0x02 => "INVALID_PARAMETER",
        0x03 => "INVALID_LENGTH",
        0x04 => "INVALID_SEQ",
        0x05 => "TIMEOUT",
        0x06 => "CHANNEL_BUSY",
        0x0A => "LOCK_REQUIRED",
        0x0B => "INVALID_CHANNEL",
        0x11 => "CBOR_UNEXPECTED_TYPE",
        0x12 => "INVALID_CBOR",
        0x14 => "MISSING_PARAMETER",
        0x15 => "LIMIT_EXCEEDED",
        0x16 => "UNSUPPORTED_EXTENSION",
        0x17 => "FP_DATABASE_FULL",
        0x18 => "LARGE_BLOB_STORAGE_FULL",
        0x19 => "CREDENTIAL_EXCLUDED",
        0x21 => "PROCESSING",
        0x22 => "INVALID_CREDENTIAL",
        0x23 => "USER_ACTION_PENDING",
        0x24 => "OPERATION_PENDING",
        0x25 => "NO_OPERATIONS",
        0x26 => "UNSUPPORTED_ALGORITHM",
        0x27 => "OPERATION_DENIED",
        0x28 => "KEY_STORE_FULL",
        0x29 => "NOT_BUSY",
        0x2A => "NO_OPERATION_PENDING",
        0x2B => "UNSUPPORTED_OPTION",
        0x2C => "INVALID_OPTION",
        0x2D => "KEEPALIVE_CANCEL",
        0x2E => "NO_CREDENTIALS",
        0x2F => "USER_ACTION_TIMEOUT",
        0x30 => "NOT_ALLOWED",
        0x31 => "PIN_INVALID",
        0x32 => "PIN_BLOCKED",
        0x33 => "PIN_AUTH_INVALID",
        0x34 => "PIN_AUTH_BLOCKED",
        0x35 => "PIN_NOT_SET",
        0x36 => "PUAT_REQUIRED",
        0x37 => "PIN_POLICY_VIOLATION",
        0x38 => "PIN_TOKEN_EXPIRED",
        0x39 => "REQUEST_TOO_LARGE",
        0x3A => "ACTION_TIMEOUT",
        0x3B => "UP_REQUIRED",
        0x3C => "UV_BLOCKED",
        0x3D => "INTEGRITY_FAILURE",
        0x3E => "INVALID_SUBCOMMAND",
        0x3F => "UV_INVALID",
        0x40 => "UNAUTHORIZED_PERMISSION",
        0x7F => "OTHER",
        0xDF => "SPEC_LAST",
        0xE0..=0xEF => "EXTENSION_SPECIFIC",
        0xF0..=0xFF => "VENDOR_SPECIFIC",
        _ => "UNASSIGNED",
    }
}

/// What the operator should do about a status code that has no dedicated
/// [`crate::key::KeyError`] variant (it is appended to the `Ctap` error's message).
pub fn status_hint(code: u8) -> &'static str {
    match code {
        0x01 => "the key does not know this command; it may be too old for this operation",
        0x02..=0x04 | 0x0B | 0x11..=0x16 | 0x2C | 0x3E => {
            "the key rejected keystation's request as malformed; this is a keystation bug or a key quirk, please report it with the key model"
        }
        0x05 | 0x3A => "the key gave up waiting; unplug it, plug it in again and retry",
        0x06 | 0x0A | 0x21 | 0x23 | 0x24 => "the key is busy; close other FIDO tools (browsers, password managers) and retry",
        0x17 | 0x18 | 0x28 => "the key's storage is full; delete credentials or reset the key",
        0x22 => "the key does not recognise the credential; it may have been deleted",
        0x25 | 0x29 | 0x2A => "the key had nothing to continue; retry the whole operation",
        0x2B => "the key does not support an option keystation asked for",
        0x38 => "the PIN token expired; retry the operation",
        0x39 => "the request is larger than the key accepts",
        0x3B => "the key needs a touch for this operation; touch it when it blinks",
        0x3C => "built-in user verification (fingerprint) is blocked; use the PIN",
        0x3D => "the key reported an integrity failure; retry, and if it repeats reset the key",
        0x3F => "built-in user verification (fingerprint) failed; retry or use the PIN",
        0x40 => "the PIN token lacks the permission this operation needs; retry the operation",
        0x7F | 0xDF => "the key reported an unspecified error; unplug it, plug it in again and retry",
        0xE0..=0xEF => "the key reported an extension-specific error",
        0xF0..=0xFF => "the key reported a vendor-specific error; check the vendor's tools",
        _ => "unexpected status; unplug the key, plug it in again and retry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_assigned_code_has_a_name() {
        let assigned: Vec<u8> = (0x01..=0x06)
            .chain([0x0A, 0x0B])
            .chain(0x11..=0x19)
            .filter(|c| *c != 0x13)
            .chain(0x21..=0x40)
            .chain([0x7F, 0xDF])
            .chain(0xE0..=0xFF)
            .collect();
        for c in assigned {
            assert_ne!(status_name(c), "UNASSIGNED", "0x{c:02x}");
        }
        assert_eq!(status_name(0x13), "UNASSIGNED");
    }
}
