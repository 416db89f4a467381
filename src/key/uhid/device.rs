//! One kernel HID device created through `/dev/uhid`: open, create, events, destroy.
use super::protocol::{self, DeviceIdentity, KernelEvent, EVENT_SIZE};
use crate::key::report::Report;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the kernel's UHID character device lives.
pub const DEFAULT_UHID_PATH: &str = "/dev/uhid";

/// What went wrong with a UHID device. The messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum UhidError {
    /// `/dev/uhid` does not exist.
    #[error("{path} does not exist: the uhid kernel module is not loaded (run `sudo modprobe uhid`; some containers and cloud kernels have no uhid at all)")]
    NotAvailable {
        /// The node that was looked for.
        path: PathBuf,
    },
    /// `/dev/uhid` exists but this user may not open it.
    #[error("no permission to open {path}: run as root, or give your group access with a udev rule such as KERNEL==\"uhid\", GROUP=\"plugdev\", MODE=\"0660\" (see docs/vm-tier.md)")]
    PermissionDenied {
        /// The node that could not be opened.
        path: PathBuf,
    },
    /// The device was created but the kernel never started it (no driver bound).
    #[error("the kernel created the HID device but no driver started it within {0:?}: load the generic HID driver (`sudo modprobe hid-generic`)")]
    NoDriver(Duration),
    /// The device was started but no hidraw node showed up.
    #[error("the HID device was started but no hidraw node appeared within {0:?}: the kernel needs hidraw support (CONFIG_HIDRAW, part of the `hid` module on Debian)")]
    NoHidraw(Duration),
    /// The identity or descriptor cannot be encoded.
    #[error("cannot create the UHID device: {0}")]
    Encode(#[from] protocol::EncodeError),
    /// The kernel sent something keystation cannot parse.
    #[error(transparent)]
    Decode(#[from] protocol::DecodeError),
    /// Any other I/O failure on `/dev/uhid`.
    #[error("{what} on {path}: {source}")]
    Io {
        /// What keystation was doing.
        what: &'static str,
        /// The UHID node.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The virtual key behind the device failed.
    #[error("the key behind the UHID device failed: {0}")]
    Key(String),
}

impl UhidError {
    /// True when the machine lacks something (module, permission, driver) rather than
    /// keystation failing: the CLI maps these to `Exit::Environment`.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            UhidError::NotAvailable { .. } | UhidError::PermissionDenied { .. } | UhidError::NoDriver(_) | UhidError::NoHidraw(_)
        )
    }
}

/// An open `/dev/uhid` file with one created device. Dropping it destroys the device.
#[derive(Debug)]
pub struct UhidDevice {
    file: File,
    path: PathBuf,
    identity: DeviceIdentity,
    destroyed: bool,
}

impl UhidDevice {
    /// Open `uhid_path` (normally [`DEFAULT_UHID_PATH`]) and create a HID device with
    /// `identity` and the report `descriptor`.
    pub fn create(uhid_path: &Path, identity: DeviceIdentity, descriptor: &[u8]) -> Result<UhidDevice, UhidError> {
        let create = protocol::encode_create2(&identity, descriptor)?;
        // Non-blocking: the bridge polls with a deadline instead of blocking in read().
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(uhid_path)
            .map_err(|source| open_error(uhid_path, source))?;
        let mut device = UhidDevice { file, path: uhid_path.to_path_buf(), identity, destroyed: false };
        device.write_event("cannot create the HID device", &create)?;
        Ok(device)
    }

    /// What the device was created with.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// Wait up to `timeout` for the next kernel event. `Ok(None)`: nothing arrived.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<KernelEvent>, UhidError> {
        let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd that lives across the call.
        let n = unsafe { libc::poll(&mut pfd, 1, millis) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(self.io_error("poll failed", err));
        }
        if n == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; EVENT_SIZE];
        match self.file.read(&mut buf) {
            Ok(len) => Ok(Some(protocol::decode_event(&buf[..len])?)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(None),
            Err(e) => Err(self.io_error("cannot read a UHID event", e)),
        }
    }

    /// Deliver one 64-byte input report from the key to the kernel (`UHID_INPUT2`).
    pub fn send_input(&mut self, report: &Report) -> Result<(), UhidError> {
        self.write_event("cannot deliver an input report", &protocol::encode_input2(report))
    }

    /// Refuse a `UHID_GET_REPORT` request: a FIDO key has no feature reports.
    pub fn refuse_get_report(&mut self, id: u32) -> Result<(), UhidError> {
        self.write_event("cannot answer GET_REPORT", &protocol::encode_get_report_reply(id, libc::EIO as u16))
    }

    /// Refuse a `UHID_SET_REPORT` request: a FIDO key has no feature reports.
    pub fn refuse_set_report(&mut self, id: u32) -> Result<(), UhidError> {
        self.write_event("cannot answer SET_REPORT", &protocol::encode_set_report_reply(id, libc::EIO as u16))
    }

    /// Remove the device from the kernel now (also done on drop).
    pub fn destroy(mut self) -> Result<(), UhidError> {
        self.destroyed = true;
        self.write_event("cannot destroy the HID device", &protocol::encode_destroy())
    }

    fn write_event(&mut self, what: &'static str, event: &[u8]) -> Result<(), UhidError> {
        loop {
            match self.file.write(event) {
                Ok(n) if n == event.len() => return Ok(()),
                Ok(n) => {
                    let err = std::io::Error::other(format!("short write ({n} of {} bytes)", event.len()));
                    return Err(self.io_error(what, err));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(what, e)),
            }
        }
    }

    fn io_error(&self, what: &'static str, source: std::io::Error) -> UhidError {
        UhidError::Io { what, path: self.path.clone(), source }
    }
}

impl Drop for UhidDevice {
    fn drop(&mut self) {
        if !self.destroyed {
            // Closing the file destroys the device too; say it explicitly anyway.
            let _ = self.file.write(&protocol::encode_destroy());
        }
    }
}

fn open_error(path: &Path, source: std::io::Error) -> UhidError {
    match source.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => UhidError::NotAvailable { path: path.to_path_buf() },
        Some(libc::EACCES) | Some(libc::EPERM) => UhidError::PermissionDenied { path: path.to_path_buf() },
        _ => UhidError::Io { what: "cannot open", path: path.to_path_buf(), source },
    }
}

/// The `/dev/hidrawN` node of the HID device whose physical path (`HID_PHYS`) is `phys`,
/// found through sysfs (`<sysfs>/class/hidraw/*/device/uevent`), if it exists yet.
pub fn find_hidraw(sysfs: &Path, phys: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(sysfs.join("class/hidraw")).ok()?;
    let wanted = format!("HID_PHYS={phys}");
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("device/uevent"))
                .map(|uevent| uevent.lines().any(|line| line == wanted))
                .unwrap_or(false)
        })
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .collect();
    found.sort();
    found.into_iter().next().map(|name| Path::new("/dev").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_hidraw(root: &Path, name: &str, phys: &str) {
        let dev = root.join("class/hidraw").join(name).join("device");
        std::fs::create_dir_all(&dev).unwrap();
        let uevent = format!("DRIVER=hid-generic\nHID_ID=0003:00001209:00000001\nHID_NAME=x\nHID_PHYS={phys}\nHID_UNIQ=\n");
        std::fs::write(dev.join("uevent"), uevent).unwrap();
    }

    #[test]
    fn finds_the_hidraw_node_by_physical_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_hidraw(dir.path(), "keystation/uhid1.0"), None);
        fake_hidraw(dir.path(), "hidraw0", "usb-0000:00:14.0-1/input0");
        fake_hidraw(dir.path(), "hidraw1", "keystation/uhid1.0");
        fake_hidraw(dir.path(), "hidraw2", "keystation/uhid1.01");
        assert_eq!(find_hidraw(dir.path(), "keystation/uhid1.0"), Some(PathBuf::from("/dev/hidraw1")));
        assert_eq!(find_hidraw(dir.path(), "keystation/uhid1.3"), None);
    }

    #[test]
    fn a_missing_uhid_node_is_an_environment_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uhid");
        let identity = DeviceIdentity {
            name: "k".into(),
            phys: "p".into(),
            uniq: "u".into(),
            bus: protocol::BUS_USB,
            vendor_id: 1,
            product_id: 2,
            version: 0,
        };
        let err = UhidDevice::create(&path, identity, &protocol::FIDO_REPORT_DESCRIPTOR).unwrap_err();
        assert!(err.is_environment(), "{err}");
        assert!(err.to_string().contains("modprobe uhid"), "{err}");
    }

    #[test]
    fn permission_errors_name_the_fix() {
        let err = open_error(Path::new("/dev/uhid"), std::io::Error::from_raw_os_error(libc::EACCES));
        assert!(err.is_environment());
        assert!(err.to_string().contains("udev rule"), "{err}");
    }
}
