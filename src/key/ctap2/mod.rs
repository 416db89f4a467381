//! CTAP2 command encoding/decoding (canonical CBOR) and the data types they carry.
pub mod types;
pub use types::*;
