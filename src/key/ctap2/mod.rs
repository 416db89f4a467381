//! CTAP2 command encoding/decoding (canonical CBOR) and the data types they carry.
//!
//! Everything here is pure (bytes in, bytes out); the device layer sends it.
#![warn(missing_docs)]
pub mod auth_data;
pub mod cbor;
pub mod client_pin;
pub mod command;
pub mod config;
pub mod cred_mgmt;
pub mod get_assertion;
pub mod info;
pub mod make_credential;
pub mod status;
pub mod types;
pub use config::{ConfigCommand, MinPinLength};
pub use types::*;
