//! Real FIDO keys through hidapi: enumeration by the FIDO usage page and the report seam.
//!
//! Reports on the wire, per platform (hidapi 2.6, this crate's backends):
//! * writes: every platform wants a leading report-ID byte; FIDO keys use unnumbered
//!   reports, so we write `0x00` + 64 bytes (65 bytes);
//! * reads: Linux hidraw (native backend) and macOS (IOHIDManager) return the bare
//!   64-byte report; on Windows hidapi strips the zero report ID itself. Should a backend
//!   hand back 65 bytes starting with `0x00`, the ID is dropped here, and a short report
//!   is zero-padded (CTAPHID packets are zero-padded anyway).
//!
//! `HidApi` is not `Send` on every platform, so no process-wide instance is kept: each
//! enumeration and each open makes its own (hidapi initialises its C context once and
//! allows any number of instances). Devices (`HidDevice`) are `Send` and live on the
//! key's worker thread.
use crate::key::descriptor::{Backend, KeyDescriptor};
use crate::key::error::KeyError;
use crate::key::report::{IoError, Report, ReportIo, REPORT_LEN};
use hidapi::{HidApi, HidDevice, HidError};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// FIDO Alliance HID usage page.
pub const FIDO_USAGE_PAGE: u16 = 0xF1D0;
/// CTAPHID usage on the FIDO usage page.
pub const FIDO_USAGE: u16 = 0x01;

/// FIDO HID devices present now (usage page 0xF1D0, usage 0x01), one per path.
pub fn enumerate() -> Result<Vec<KeyDescriptor>, KeyError> {
    let api = HidApi::new().map_err(|e| KeyError::Transport(format!("cannot list HID devices: {e}")))?;
    let mut keys: Vec<KeyDescriptor> = Vec::new();
    for info in api.device_list() {
        if info.usage_page() != FIDO_USAGE_PAGE || info.usage() != FIDO_USAGE {
            continue;
        }
        let path = info.path().to_string_lossy().into_owned();
        if keys.iter().any(|k| k.path == path) {
            // macOS lists a device once per usage pair; keep the first.
            continue;
        }
        let plug = plug_number(&path);
        let text = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        keys.push(KeyDescriptor {
            backend: Backend::Hid,
            path,
            vendor_id: info.vendor_id(),
            product_id: info.product_id(),
            manufacturer: text(info.manufacturer_string()),
            product: text(info.product_string()),
            serial: text(info.serial_number()),
            plug,
        });
    }
    Ok(keys)
}

/// The kernel's number for the HID device behind `/dev/hidrawN`: the hex suffix of its
/// sysfs name (`0003:1050:0407.000C` → 12). The kernel counts it up for every HID device
/// it creates, so a re-plug gets a new one even when it reuses the hidraw node. 0 when
/// unknown (not Linux, or sysfs does not say).
pub fn plug_number(path: &str) -> u64 {
    #[cfg(target_os = "linux")]
    {
        let Some(node) = path.strip_prefix("/dev/") else { return 0 };
        let Ok(device) = std::fs::read_link(format!("/sys/class/hidraw/{node}/device")) else { return 0 };
        parse_hid_device_name(&device.to_string_lossy()).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        0
    }
}

/// `.../0003:1050:0407.000C` → 12.
fn parse_hid_device_name(link: &str) -> Option<u64> {
    let name = link.rsplit('/').next()?;
    let (_, number) = name.rsplit_once('.')?;
    u64::from_str_radix(number, 16).ok()
}

/// Open the FIDO HID device at `path` (as enumerated).
pub fn open(path: &str) -> Result<HidReports, KeyError> {
    let c_path = CString::new(path).map_err(|_| KeyError::NotFido(format!("{path:?} is not a device path")))?;
    let api = HidApi::new().map_err(|e| KeyError::Transport(format!("cannot start hidapi: {e}")))?;
    let device = api.open_path(&c_path).map_err(|e| open_error(path, &e))?;
    Ok(HidReports { device, path: path.to_string() })
}

/// One open FIDO HID device behind the report seam.
pub struct HidReports {
    device: HidDevice,
    path: String,
}

impl std::fmt::Debug for HidReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidReports").field("path", &self.path).finish()
    }
}

impl HidReports {
    /// The device path this handle was opened on.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl ReportIo for HidReports {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        let mut out = [0u8; REPORT_LEN + 1];
        out[1..].copy_from_slice(report);
        match self.device.write(&out) {
            Ok(n) if n >= REPORT_LEN => Ok(()),
            Ok(n) => Err(IoError::Transport(format!("{}: only {n} of {} bytes were written", self.path, out.len()))),
            Err(e) => Err(io_error(&self.path, &e)),
        }
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; REPORT_LEN + 1];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            match self.device.read_timeout(&mut buf, ms) {
                Ok(0) if Instant::now() >= deadline => return Ok(None),
                // Woken early with nothing (a spurious poll wake-up): wait out the rest.
                Ok(0) => continue,
                Ok(n) => return Ok(Some(strip_report_id(&buf[..n]))),
                Err(e) if is_interrupted(&e) && Instant::now() < deadline => continue,
                Err(e) if is_interrupted(&e) => return Ok(None),
                Err(e) => return Err(io_error(&self.path, &e)),
            }
        }
    }
}

/// 64 bytes from what the backend returned (see the module docs).
fn strip_report_id(data: &[u8]) -> Report {
    let body = if data.len() == REPORT_LEN + 1 && data[0] == 0 { &data[1..] } else { data };
    let mut report = [0u8; REPORT_LEN];
    let n = body.len().min(REPORT_LEN);
    report[..n].copy_from_slice(&body[..n]);
    report
}

fn is_interrupted(e: &HidError) -> bool {
    matches!(e, HidError::IoError { error } if error.kind() == std::io::ErrorKind::Interrupted)
}

/// errno values with which Linux hidraw reports a device that went away: reads get EIO,
/// writes ENODEV, and a few USB paths surface ENXIO/ESHUTDOWN/EPIPE.
fn gone_errno(code: Option<i32>) -> bool {
    const EIO: i32 = 5;
    const ENXIO: i32 = 6;
    const ENODEV: i32 = 19;
    const EPIPE: i32 = 32;
    const ESHUTDOWN: i32 = 108;
    cfg!(target_os = "linux") && matches!(code, Some(EIO | ENXIO | ENODEV | EPIPE | ESHUTDOWN))
}

/// hidapi error texts that mean "the device is gone", across backends: Linux native
/// ("unexpected poll error (device disconnected)"), Windows ("The device is not
/// connected", ERROR_DEVICE_NOT_CONNECTED 0x48F), macOS (kIOReturnNotAttached
/// 0xE00002D8, kIOReturnNoDevice 0xE00002C0).
fn gone_text(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["disconnected", "not connected", "no such device", "device not found", "0x0000048f", "0xe00002d8", "0xe00002c0"]
        .iter()
        .any(|needle| m.contains(needle))
}

fn io_error(path: &str, e: &HidError) -> IoError {
    let gone = match e {
        HidError::IoError { error } => gone_errno(error.raw_os_error()) || gone_text(&error.to_string()),
        HidError::HidApiError { message } => gone_text(message),
        _ => false,
    };
    if gone { IoError::Removed } else { IoError::Transport(format!("{path}: {e}")) }
}

/// Turn an open failure into what the operator should do about it.
fn open_error(path: &str, e: &HidError) -> KeyError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("no such file") || gone_text(&text) {
        return KeyError::Removed;
    }
    if lower.contains("permission denied") || lower.contains("access is denied") || lower.contains("0x00000005") || lower.contains("(os error 13)") {
        return KeyError::Transport(access_denied_hint(path));
    }
    if lower.contains("0xe00002c5") || lower.contains("exclusive") || lower.contains("busy") {
        return KeyError::Busy;
    }
    KeyError::Transport(format!("cannot open {path}: {text}"))
}

#[cfg(target_os = "windows")]
fn access_denied_hint(path: &str) -> String {
    format!(
        "Windows refused access to the security key {path}: since Windows 10 1903 only elevated processes may talk to FIDO keys directly; run keystation from an Administrator prompt"
    )
}

#[cfg(target_os = "macos")]
fn access_denied_hint(path: &str) -> String {
    format!("macOS refused access to the security key {path}; allow keystation (or its terminal) under System Settings → Privacy & Security → Input Monitoring, then retry")
}

#[cfg(not(any(target_os = "windows", target_os = "macos")))]
fn access_denied_hint(path: &str) -> String {
    format!(
        "permission denied opening {path}; install udev/70-keystation.rules (see docs/udev.md), add this user to the keystation group or log in at the seat, then unplug and replug the key"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_hid_device_number_is_the_plug() {
        assert_eq!(parse_hid_device_name("../../../0003:1050:0407.000C"), Some(12));
        assert_eq!(parse_hid_device_name("../../devices/virtual/misc/uhid/0003:1209:000A.0021"), Some(33));
        assert_eq!(parse_hid_device_name("no-number"), None);
        assert_eq!(plug_number("/nonexistent/hidraw9"), 0);
    }

    #[test]
    fn report_id_byte_is_dropped_and_short_reports_padded() {
        let mut with_id = [0u8; 65];
        with_id[1] = 0xAB;
        with_id[64] = 0xCD;
        let r = strip_report_id(&with_id);
        assert_eq!((r[0], r[63]), (0xAB, 0xCD));
        let mut plain = [0u8; 64];
        plain[0] = 0x11;
        assert_eq!(strip_report_id(&plain)[0], 0x11);
        let short = strip_report_id(&[1, 2, 3]);
        assert_eq!(&short[..4], &[1, 2, 3, 0]);
    }

    #[test]
    fn device_gone_errors_become_removed() {
        let disconnected = HidError::HidApiError { message: "unexpected poll error (device disconnected)".into() };
        assert_eq!(io_error("/dev/hidraw0", &disconnected), IoError::Removed);
        let windows = HidError::HidApiError { message: "ReadFile: (0x0000048F) The device is not connected.".into() };
        assert_eq!(io_error("x", &windows), IoError::Removed);
        let other = HidError::HidApiError { message: "something odd".into() };
        assert!(matches!(io_error("x", &other), IoError::Transport(_)));
        #[cfg(target_os = "linux")]
        {
            let eio = HidError::IoError { error: std::io::Error::from_raw_os_error(5) };
            assert_eq!(io_error("x", &eio), IoError::Removed);
            let enodev = HidError::IoError { error: std::io::Error::from_raw_os_error(19) };
            assert_eq!(io_error("x", &enodev), IoError::Removed);
        }
    }

    #[test]
    fn open_failures_say_what_to_do() {
        let denied = HidError::HidApiError {
            message: "failed to open device with path /dev/hidraw3: Permission denied (os error 13)".into(),
        };
        let msg = open_error("/dev/hidraw3", &denied).to_string();
        #[cfg(target_os = "linux")]
        assert!(msg.contains("udev") && msg.contains("keystation group"), "{msg}");
        assert!(msg.contains("/dev/hidraw3"), "{msg}");
        let gone = HidError::HidApiError {
            message: "failed to open device with path /dev/hidraw9: No such file or directory (os error 2)".into(),
        };
        assert_eq!(open_error("/dev/hidraw9", &gone), KeyError::Removed);
    }

    #[test]
    fn opening_a_missing_path_is_removed_not_a_panic() {
        assert_eq!(open("/dev/hidraw-keystation-does-not-exist").err(), Some(KeyError::Removed));
    }
}
