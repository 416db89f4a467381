//! The report-level I/O seam that keystation owns.
//!
//! Everything above this trait (CTAPHID framing, CTAP2, PIN protocols) is keystation's
//! own code and is exercised identically against a real key (hidapi) and the in-process
//! virtual key. Implementations deal in bare 64-byte HID reports: no report-ID byte, that
//! is the backend's business (hidapi needs a leading 0x00 on write on every platform).
use std::time::Duration;

/// Length of a FIDO U2F/CTAPHID report (usage page 0xF1D0, usage 0x01).
pub const REPORT_LEN: usize = 64;

/// One HID report without a report-ID prefix.
pub type Report = [u8; REPORT_LEN];

/// Why a report could not be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// The device is gone (unplugged, hidraw node removed, virtual key unplugged).
    #[error("the key was removed")]
    Removed,
    /// Any other transport failure; the text is for logs and contains no secrets.
    #[error("HID transport error: {0}")]
    Transport(String),
}

/// Write one report / read one report with a deadline.
///
/// Implementations must never block longer than `timeout` in [`ReportIo::read_report`]
/// (callers poll in short slices so that cancel and unplug are noticed quickly), and
/// must return [`IoError::Removed`] promptly once the device is gone.
pub trait ReportIo: Send {
    /// Send one 64-byte output report to the key.
    fn write_report(&mut self, report: &Report) -> Result<(), IoError>;
    /// Wait up to `timeout` for one 64-byte input report. `Ok(None)` means the timeout
    /// elapsed with nothing to read.
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError>;
}

impl<T: ReportIo + ?Sized> ReportIo for Box<T> {
    fn write_report(&mut self, report: &Report) -> Result<(), IoError> {
        (**self).write_report(report)
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, IoError> {
        (**self).read_report(timeout)
    }
}
