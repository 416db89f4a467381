//! CTAP2 command bytes and the request framing shared by all commands.
use super::cbor::to_canonical_vec;
use ciborium::Value;

/// authenticatorMakeCredential
pub const MAKE_CREDENTIAL: u8 = 0x01;
/// authenticatorGetAssertion
pub const GET_ASSERTION: u8 = 0x02;
/// authenticatorGetInfo
pub const GET_INFO: u8 = 0x04;
/// authenticatorClientPIN
pub const CLIENT_PIN: u8 = 0x06;
/// authenticatorReset
pub const RESET: u8 = 0x07;
/// authenticatorCredentialManagement (CTAP 2.1)
pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
/// authenticatorSelection
pub const SELECTION: u8 = 0x0B;
/// authenticatorConfig
pub const CONFIG: u8 = 0x0D;
/// The CTAP 2.1 pre-release credential management command (FIDO_2_1_PRE keys).
pub const CREDENTIAL_MANAGEMENT_PREVIEW: u8 = 0x41;

/// A CTAP2 request: the command byte and its parameters (a CBOR map, or nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Command byte.
    pub command: u8,
    /// Parameters, encoded canonically when sent.
    pub params: Option<Value>,
}

impl Request {
    /// A command without parameters.
    pub fn bare(command: u8) -> Request {
        Request { command, params: None }
    }

    /// A command with a parameter map.
    pub fn with(command: u8, params: Value) -> Request {
        Request { command, params: Some(params) }
    }

    /// The canonical CBOR parameter bytes (empty for a bare command).
    pub fn params_cbor(&self) -> Vec<u8> {
        self.params.as_ref().map(to_canonical_vec).unwrap_or_default()
    }
}
