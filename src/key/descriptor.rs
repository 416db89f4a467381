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
/// path for HID keys, `virtual:<n>` for virtual keys; `plug` tells one plug-in of a key
/// from the next.
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
    /// Which plug-in of the key this is. It changes every time the key is plugged in, so
    /// a key pulled and plugged back is a different descriptor even on the same path
    /// (Linux reuses `/dev/hidrawN`). Linux: the kernel's HID device number (the `.NNNN`
    /// of `/sys/class/hidraw/hidrawN/device`, counted up for every new HID device);
    /// virtual keys: the key's plug generation; 0 where the platform gives none (then
    /// only the path tells plug-ins apart: a macOS path names one plug-in, a Windows one
    /// may stay the same for a re-plug into the same port). Not part of the JSON output.
    #[serde(skip)]
    pub plug: u64,
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
