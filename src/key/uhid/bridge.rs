//! Shuttle reports between a UHID device and a report-level key until told to stop.
use super::device::{UhidDevice, UhidError};
use super::protocol::{self, KernelEvent, UHID_OUTPUT_REPORT};
use crate::key::report::{IoError, ReportIo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the bridge keeps polling tightly after the last report in either direction.
/// A CTAPHID message is a burst of packets and the key answers (or sends keepalives)
/// within milliseconds, so short latency matters only around traffic.
const BUSY_WINDOW: Duration = Duration::from_secs(2);
/// How long one wait for the key lasts while busy: the latency added to each packet the
/// kernel hands over while the bridge is waiting on the key.
const BUSY_KEY_WAIT: Duration = Duration::from_millis(1);
/// How long one wait for the kernel lasts while idle: bounds how late a stop request or
/// an unprompted report from the key is noticed.
const IDLE_KERNEL_WAIT: Duration = Duration::from_millis(20);

/// Why the bridge ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The stop flag was raised.
    Stopped,
    /// The key reported itself removed (a virtual key was unplugged).
    KeyRemoved,
}

/// Run the bridge on the current thread until `stop` is raised, the key goes away, or
/// the device fails. Every kernel event is passed to `observe` after it was handled.
///
/// Output reports go to the key after [`protocol::packet_from_output`] applied the USB
/// report-ID rule; the key's replies go back as `UHID_INPUT2`. Malformed output reports
/// are dropped with a warning, as a USB key ignores a packet it cannot parse.
pub fn run(
    device: &mut UhidDevice,
    key: &mut dyn ReportIo,
    stop: &AtomicBool,
    observe: &mut dyn FnMut(&KernelEvent),
) -> Result<BridgeEnd, UhidError> {
    // Start idle: nothing is talking to a device nobody has opened yet.
    let mut last_traffic: Option<Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(BridgeEnd::Stopped);
        }
        let busy = last_traffic.is_some_and(|t| t.elapsed() < BUSY_WINDOW);

        // Kernel → key: handle every event that is already queued.
        let mut kernel_wait = if busy { Duration::ZERO } else { IDLE_KERNEL_WAIT };
        while let Some(event) = device.next_event(kernel_wait)? {
            kernel_wait = Duration::ZERO;
            if handle_event(device, key, &event)? {
                last_traffic = Some(Instant::now());
            }
            observe(&event);
        }

        // Key → kernel: forward every reply that is ready.
        let mut key_wait = if busy { BUSY_KEY_WAIT } else { Duration::ZERO };
        loop {
            match key.read_report(key_wait) {
                Ok(Some(report)) => {
                    device.send_input(&report)?;
                    last_traffic = Some(Instant::now());
                    key_wait = Duration::ZERO;
                }
                Ok(None) => break,
                Err(IoError::Removed) => return Ok(BridgeEnd::KeyRemoved),
                Err(IoError::Transport(e)) => return Err(UhidError::Key(e)),
            }
        }
    }
}

/// Handle one kernel event; true when it carried a report for the key.
fn handle_event(device: &mut UhidDevice, key: &mut dyn ReportIo, event: &KernelEvent) -> Result<bool, UhidError> {
    match event {
        KernelEvent::Output { data, rtype } => {
            if *rtype != UHID_OUTPUT_REPORT {
                tracing::warn!(rtype, "ignoring a non-output report from the kernel");
                return Ok(false);
            }
            match protocol::packet_from_output(data) {
                Ok(packet) => match key.write_report(&packet) {
                    Ok(()) => Ok(true),
                    Err(IoError::Removed) => Ok(false),
                    Err(IoError::Transport(e)) => Err(UhidError::Key(e)),
                },
                Err(e) => {
                    tracing::warn!("dropping a {}-byte output report: {e}", data.len());
                    Ok(false)
                }
            }
        }
        KernelEvent::GetReport { id, rnum, .. } => {
            tracing::debug!(rnum, "refusing GET_REPORT: a FIDO key has no feature reports");
            device.refuse_get_report(*id)?;
            Ok(false)
        }
        KernelEvent::SetReport { id, rnum, .. } => {
            tracing::debug!(rnum, "refusing SET_REPORT: a FIDO key has no feature reports");
            device.refuse_set_report(*id)?;
            Ok(false)
        }
        KernelEvent::Start { dev_flags } => {
            tracing::debug!(dev_flags, "UHID device started");
            Ok(false)
        }
        KernelEvent::Stop => {
            tracing::debug!("UHID device stopped");
            Ok(false)
        }
        KernelEvent::Open => {
            tracing::debug!("UHID device opened");
            Ok(false)
        }
        KernelEvent::Close => {
            tracing::debug!("UHID device closed");
            Ok(false)
        }
        KernelEvent::Unknown(kind) => {
            tracing::debug!(kind, "ignoring an unknown UHID event");
            Ok(false)
        }
    }
}
