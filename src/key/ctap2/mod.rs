//! CTAP2 command encoding/decoding (canonical CBOR) and the data types they carry.
pub mod cbor;
pub mod status;
pub mod types;
pub use types::*;
