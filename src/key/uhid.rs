//! Linux only: expose a report-level key (normally a [`crate::key::virtual_key`]) as a
//! real kernel HID device through `/dev/uhid`.
//!
//! The kernel then shows a `/dev/hidrawN` node that hidapi, libfido2 and browsers find and
//! use exactly like a USB security key. This is what `keystation virtual-key --uhid` runs
//! and what the qemu test tier (`tests/vm.rs`) uses to prove the hidapi backend against a
//! real hidraw.
//!
//! ```text
//!  hidraw user ──write 0x00+64──▶ kernel ──UHID_OUTPUT──▶ bridge ──write_report──▶ key
//!  hidraw user ◀──read 64─────── kernel ◀──UHID_INPUT2── bridge ◀──read_report─── key
//! ```
//! The kernel needs the `uhid` module, and `hid-generic` so that a driver binds, starts
//! the device and creates the hidraw node.
#![warn(missing_docs)]
mod bridge;
mod device;
mod protocol;

pub use bridge::BridgeEnd;
pub use device::{find_hidraw, UhidDevice, UhidError, DEFAULT_UHID_PATH};
pub use protocol::{
    report_descriptor_with_usage_page, DecodeError, DeviceIdentity, EncodeError, KernelEvent, BUS_USB, FIDO_REPORT_DESCRIPTOR,
};

use crate::key::report::ReportIo;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often sysfs is looked at while waiting for the hidraw node.
const SYSFS_POLL: Duration = Duration::from_millis(10);

/// Where to create the device and what to call it.
#[derive(Debug, Clone)]
pub struct UhidKeyConfig {
    /// The UHID character device, normally [`DEFAULT_UHID_PATH`].
    pub uhid_path: PathBuf,
    /// sysfs mount point, normally `/sys`; used to find the hidraw node.
    pub sysfs: PathBuf,
    /// Name, physical path, serial and ids the kernel shows. `phys` must be unique
    /// among HID devices: it is how the hidraw node is found.
    pub identity: DeviceIdentity,
    /// The HID report descriptor, normally [`FIDO_REPORT_DESCRIPTOR`].
    pub descriptor: Vec<u8>,
}

impl UhidKeyConfig {
    /// A config for `/dev/uhid` and `/sys` with the given identity.
    pub fn new(identity: DeviceIdentity) -> UhidKeyConfig {
        UhidKeyConfig {
            uhid_path: PathBuf::from(DEFAULT_UHID_PATH),
            sysfs: PathBuf::from("/sys"),
            identity,
            descriptor: FIDO_REPORT_DESCRIPTOR.to_vec(),
        }
    }
}

/// What the bridge thread has seen so far, shared with the owner.
#[derive(Debug, Default)]
struct Progress {
    started: bool,
    finished: bool,
}

/// A key served as a kernel HID device by a background thread.
///
/// Dropping it (or [`UhidKey::stop`]) stops the thread and destroys the device.
pub struct UhidKey {
    config: UhidKeyConfig,
    stop: Arc<AtomicBool>,
    progress: Arc<(Mutex<Progress>, Condvar)>,
    thread: Option<JoinHandle<Result<BridgeEnd, UhidError>>>,
}

impl UhidKey {
    /// Create the HID device (errors such as a missing `/dev/uhid` surface here) and
    /// start serving `key` on a background thread.
    pub fn spawn(config: UhidKeyConfig, mut key: Box<dyn ReportIo>) -> Result<UhidKey, UhidError> {
        let mut device = UhidDevice::create(&config.uhid_path, config.identity.clone(), &config.descriptor)?;
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new((Mutex::new(Progress::default()), Condvar::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let progress = Arc::clone(&progress);
            let name = format!("uhid {}", config.identity.phys);
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let mut observe = |event: &KernelEvent| {
                        if matches!(event, KernelEvent::Start { .. }) {
                            set_progress(&progress, |p| p.started = true);
                        }
                    };
                    let result = bridge::run(&mut device, key.as_mut(), &stop, &mut observe);
                    let result = match device.destroy() {
                        Ok(()) => result,
                        Err(e) => result.and(Err(e)),
                    };
                    set_progress(&progress, |p| p.finished = true);
                    result
                })
                .map_err(|e| UhidError::Key(format!("cannot start the bridge thread: {e}")))?
        };
        Ok(UhidKey { config, stop, progress, thread: Some(thread) })
    }

    /// The identity the device was created with.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.config.identity
    }

    /// Wait until the kernel started the device and its hidraw node exists; returns the
    /// node's path (`/dev/hidrawN`).
    pub fn wait_for_hidraw(&self, timeout: Duration) -> Result<PathBuf, UhidError> {
        let deadline = Instant::now() + timeout;
        self.wait_started(deadline, timeout)?;
        loop {
            if let Some(path) = find_hidraw(&self.config.sysfs, &self.config.identity.phys) {
                return Ok(path);
            }
            if self.is_finished() {
                return Err(UhidError::Key("the bridge stopped before the hidraw node appeared".into()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(UhidError::NoHidraw(timeout));
            }
            std::thread::sleep(SYSFS_POLL.min(deadline - now));
        }
    }

    fn wait_started(&self, deadline: Instant, timeout: Duration) -> Result<(), UhidError> {
        let (lock, cond) = &*self.progress;
        let mut progress = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while !progress.started {
            if progress.finished {
                return Err(UhidError::Key("the bridge stopped before the kernel started the device".into()));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(UhidError::NoDriver(timeout));
            }
            progress = cond.wait_timeout(progress, deadline - now).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
        Ok(())
    }

    /// True once the bridge thread ended (stopped, key removed, or failed).
    pub fn is_finished(&self) -> bool {
        let (lock, _) = &*self.progress;
        lock.lock().map(|p| p.finished).unwrap_or(true)
    }

    /// Stop serving, destroy the device and report how the bridge ended.
    pub fn stop(mut self) -> Result<BridgeEnd, UhidError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<BridgeEnd, UhidError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(UhidError::Key("the bridge thread panicked".into()))),
            None => Ok(BridgeEnd::Stopped),
        }
    }
}

impl Drop for UhidKey {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl std::fmt::Debug for UhidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UhidKey").field("identity", &self.config.identity).field("finished", &self.is_finished()).finish()
    }
}

fn set_progress(progress: &(Mutex<Progress>, Condvar), change: impl FnOnce(&mut Progress)) {
    let (lock, cond) = progress;
    let mut p = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    change(&mut p);
    cond.notify_all();
}

/// A physical path unique to this process and key index, e.g. `keystation/uhid4711.0`.
pub fn unique_phys(index: usize) -> String {
    format!("keystation/uhid{}.{index}", std::process::id())
}

