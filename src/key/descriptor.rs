//! How a key is named before it is opened.
use serde::Serialize;

/// Where a key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A real HID device reached through hidapi (hidraw on Linux).
    Hid,
    /// An in-process virtual key (OpenSK core) from a [`crate::key::virtual_key`] hub.
    Virtual,
}

/// A key as enumeration sees it: enough to open it again and to tell keys apart.
///
/// `path` is the stable handle while the key stays plugged in: the hidraw/IOKit/Win32
/// path for HID keys, `virtual:<n>` for virtual keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct KeyDescriptor {
    pub backend: Backend,
    pub path: String,
    pub vendor_id: u16,
    pub product_id: u16,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// USB serial string when the key exposes one (many FIDO keys do not).
    pub serial: Option<String>,
}

impl KeyDescriptor {
    /// A short human label: "Yubico YubiKey OTP+FIDO+CCID (/dev/hidraw3)".
    pub fn label(&self) -> String {
        let name = match (&self.manufacturer, &self.product) {
            (Some(m), Some(p)) if p.starts_with(m.as_str()) => p.clone(),
            (Some(m), Some(p)) => format!("{m} {p}"),
            (None, Some(p)) => p.clone(),
            (Some(m), None) => m.clone(),
            (None, None) => format!("{:04x}:{:04x}", self.vendor_id, self.product_id),
        };
        format!("{name} ({})", self.path)
    }
}
