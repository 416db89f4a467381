//! The `/dev/uhid` wire format (kernel uapi `linux/uhid.h`), encoded by hand.
//!
//! Every message is a packed `struct uhid_event`: a native-endian `u32` type followed by
//! a union of request structs, all `__attribute__((packed))`. Rather than mirror the union
//! with `repr(C, packed)` structs (and unsafe transmutes), messages are built and parsed
//! as byte buffers at the offsets the header defines. The kernel zero-fills whatever a
//! write leaves out, so writes only carry the bytes that matter.
use crate::key::report::{Report, REPORT_LEN};

/// `sizeof(struct uhid_event)`: the type plus the largest union member
/// (`uhid_create2_req`, 4372 bytes). Reads use a buffer this large.
pub const EVENT_SIZE: usize = 4 + CREATE2_SIZE;
/// `UHID_DATA_MAX` and `HID_MAX_DESCRIPTOR_SIZE`.
pub const DATA_MAX: usize = 4096;
const CREATE2_SIZE: usize = 128 + 64 + 64 + 2 + 2 + 4 * 4 + DATA_MAX;

/// `enum uhid_event_type` values keystation sends or understands.
pub mod event_type {
    /// Host → kernel: remove the device.
    pub const DESTROY: u32 = 1;
    /// Kernel → host: a driver bound and started the device (`uhid_start_req`).
    pub const START: u32 = 2;
    /// Kernel → host: the driver stopped the device.
    pub const STOP: u32 = 3;
    /// Kernel → host: the first user opened the device (e.g. a hidraw node).
    pub const OPEN: u32 = 4;
    /// Kernel → host: the last user closed the device.
    pub const CLOSE: u32 = 5;
    /// Kernel → host: an output report was written (`uhid_output_req`).
    pub const OUTPUT: u32 = 6;
    /// Kernel → host: somebody asked for a report (HIDIOCGFEATURE...); must be answered.
    pub const GET_REPORT: u32 = 9;
    /// Host → kernel: answer to [`GET_REPORT`].
    pub const GET_REPORT_REPLY: u32 = 10;
    /// Host → kernel: create the device with an inline report descriptor.
    pub const CREATE2: u32 = 11;
    /// Host → kernel: an input report from the device (`uhid_input2_req`).
    pub const INPUT2: u32 = 12;
    /// Kernel → host: somebody set a report (HIDIOCSFEATURE...); must be answered.
    pub const SET_REPORT: u32 = 13;
    /// Host → kernel: answer to [`SET_REPORT`].
    pub const SET_REPORT_REPLY: u32 = 14;
}

/// `enum uhid_report_type`: the output report type in `uhid_output_req.rtype`.
pub const UHID_OUTPUT_REPORT: u8 = 1;
/// `BUS_USB` from `linux/input.h`: hidapi and libfido2 then treat the device as a USB key.
pub const BUS_USB: u16 = 0x03;

/// The FIDO CTAPHID report descriptor: usage page 0xF1D0, usage 0x01 (CTAPHID), one
/// 64-byte input report (usage 0x20) and one 64-byte output report (usage 0x21), no
/// report IDs. hidapi and libfido2 find keys by the usage page in this descriptor.
pub const FIDO_REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xD0, 0xF1, // Usage Page (FIDO Alliance, 0xF1D0)
    0x09, 0x01, // Usage (CTAPHID)
    0xA1, 0x01, // Collection (Application)
    0x09, 0x20, //   Usage (Input Report Data)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, REPORT_LEN as u8, //   Report Count (64)
    0x81, 0x02, //   Input (Data, Variable, Absolute)
    0x09, 0x21, //   Usage (Output Report Data)
    0x15, 0x00, //   Logical Minimum (0)
    0x26, 0xFF, 0x00, //   Logical Maximum (255)
    0x75, 0x08, //   Report Size (8 bits)
    0x95, REPORT_LEN as u8, //   Report Count (64)
    0x91, 0x02, //   Output (Data, Variable, Absolute)
    0xC0, // End Collection
];

/// [`FIDO_REPORT_DESCRIPTOR`] with another usage page: the same 64-byte reports, but
/// not a FIDO device to any client that filters by usage page (a test aid).
pub fn report_descriptor_with_usage_page(page: u16) -> Vec<u8> {
    let mut descriptor = FIDO_REPORT_DESCRIPTOR.to_vec();
    descriptor[1..3].copy_from_slice(&page.to_le_bytes());
    descriptor
}

/// What `UHID_CREATE2` announces about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Product name (`HID_NAME`; hidapi's product string). At most 127 bytes.
    pub name: String,
    /// Physical path (`HID_PHYS`). keystation makes it unique per device so that the
    /// hidraw node can be found in sysfs. At most 63 bytes.
    pub phys: String,
    /// Unique id (`HID_UNIQ`; hidapi's serial number). At most 63 bytes.
    pub uniq: String,
    /// Bus type, normally [`BUS_USB`].
    pub bus: u16,
    /// USB vendor id.
    pub vendor_id: u16,
    /// USB product id.
    pub product_id: u16,
    /// Device release number (bcdDevice).
    pub version: u32,
}

/// Why a `UHID_CREATE2` message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string does not fit its fixed-size, NUL-terminated field.
    #[error("the {field} {value:?} is too long: at most {max} bytes")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: String,
        /// The most bytes the field holds (without its NUL terminator).
        max: usize,
    },
    /// A string contains a NUL byte, which would cut it short in the kernel.
    #[error("the {field} must not contain NUL characters")]
    Nul {
        /// Which field.
        field: &'static str,
    },
    /// The report descriptor is empty or larger than the kernel accepts.
    #[error("a report descriptor must be 1..={DATA_MAX} bytes, got {0}")]
    Descriptor(usize),
}

/// Encode `UHID_CREATE2`.
pub fn encode_create2(id: &DeviceIdentity, descriptor: &[u8]) -> Result<Vec<u8>, EncodeError> {
    if descriptor.is_empty() || descriptor.len() > DATA_MAX {
        return Err(EncodeError::Descriptor(descriptor.len()));
    }
    let mut buf = vec![0u8; EVENT_SIZE];
    buf[0..4].copy_from_slice(&event_type::CREATE2.to_ne_bytes());
    put_cstr(&mut buf[4..132], "name", &id.name)?;
    put_cstr(&mut buf[132..196], "phys", &id.phys)?;
    put_cstr(&mut buf[196..260], "serial (uniq)", &id.uniq)?;
    let mut at = 260;
    let mut put = |bytes: &[u8]| {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&(descriptor.len() as u16).to_ne_bytes());
    put(&id.bus.to_ne_bytes());
    put(&u32::from(id.vendor_id).to_ne_bytes());
    put(&u32::from(id.product_id).to_ne_bytes());
    put(&id.version.to_ne_bytes());
    put(&0u32.to_ne_bytes()); // country: not localized
    put(descriptor);
    // Everything after the descriptor is zero; the kernel zero-fills it anyway.
    let used = 4 + 128 + 64 + 64 + 2 + 2 + 16 + descriptor.len();
    buf.truncate(used);
    Ok(buf)
}

fn put_cstr(field: &mut [u8], name: &'static str, value: &str) -> Result<(), EncodeError> {
    if value.as_bytes().contains(&0) {
        return Err(EncodeError::Nul { field: name });
    }
    // Keep one byte for the terminating NUL.
    if value.len() >= field.len() {
        return Err(EncodeError::TooLong { field: name, value: value.to_string(), max: field.len() - 1 });
    }
    field[..value.len()].copy_from_slice(value.as_bytes());
    Ok(())
}

/// Encode `UHID_INPUT2` carrying one 64-byte input report (no report-ID byte: the
/// descriptor declares none, so hidraw readers get exactly these 64 bytes).
pub fn encode_input2(report: &Report) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + 2 + REPORT_LEN);
    buf.extend_from_slice(&event_type::INPUT2.to_ne_bytes());
    buf.extend_from_slice(&(REPORT_LEN as u16).to_ne_bytes());
    buf.extend_from_slice(report);
    buf
}

/// Encode `UHID_DESTROY`.
pub fn encode_destroy() -> Vec<u8> {
    event_type::DESTROY.to_ne_bytes().to_vec()
}

/// Encode the answer to `UHID_GET_REPORT`: keystation's keys have no feature reports, so
/// the answer is always the error `err` (an errno value) with no data.
pub fn encode_get_report_reply(id: u32, err: u16) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + 4 + 2 + 2);
    buf.extend_from_slice(&event_type::GET_REPORT_REPLY.to_ne_bytes());
    buf.extend_from_slice(&id.to_ne_bytes());
    buf.extend_from_slice(&err.to_ne_bytes());
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf
}

/// Encode the answer to `UHID_SET_REPORT` with the error `err` (an errno value, 0 = ok).
pub fn encode_set_report_reply(id: u32, err: u16) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + 4 + 2);
    buf.extend_from_slice(&event_type::SET_REPORT_REPLY.to_ne_bytes());
    buf.extend_from_slice(&id.to_ne_bytes());
    buf.extend_from_slice(&err.to_ne_bytes());
    buf
}

/// An event the kernel sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// A driver started the device; `dev_flags` says which report kinds are numbered.
    Start {
        /// `UHID_DEV_NUMBERED_*_REPORTS` bits (none for a FIDO descriptor).
        dev_flags: u64,
    },
    /// The driver stopped the device.
    Stop,
    /// The first user opened the device.
    Open,
    /// The last user closed the device.
    Close,
    /// A report written by a user; `data` is exactly what the kernel passed on.
    Output {
        /// The bytes written to hidraw, report-ID byte included.
        data: Vec<u8>,
        /// `enum uhid_report_type`; [`UHID_OUTPUT_REPORT`] for hidraw writes.
        rtype: u8,
    },
    /// A request for a report that must be answered with [`encode_get_report_reply`].
    GetReport {
        /// Request id to echo in the reply.
        id: u32,
        /// Report number asked for.
        rnum: u8,
        /// `enum uhid_report_type` asked for.
        rtype: u8,
    },
    /// A report to set that must be answered with [`encode_set_report_reply`].
    SetReport {
        /// Request id to echo in the reply.
        id: u32,
        /// Report number to set.
        rnum: u8,
        /// `enum uhid_report_type` to set.
        rtype: u8,
    },
    /// An event type keystation does not know (newer kernels may add some).
    Unknown(u32),
}

/// Why bytes read from `/dev/uhid` are not a valid event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed UHID event: {0}")]
pub struct DecodeError(String);

/// Decode one event as read from `/dev/uhid`.
pub fn decode_event(buf: &[u8]) -> Result<KernelEvent, DecodeError> {
    let need = |n: usize| {
        if buf.len() < n {
            Err(DecodeError(format!("{} bytes, expected at least {n}", buf.len())))
        } else {
            Ok(())
        }
    };
    need(4)?;
    let u16_at = |at: usize| u16::from_ne_bytes([buf[at], buf[at + 1]]);
    let u32_at = |at: usize| u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let kind = u32_at(0);
    Ok(match kind {
        event_type::START => {
            need(12)?;
            let mut flags = [0u8; 8];
            flags.copy_from_slice(&buf[4..12]);
            KernelEvent::Start { dev_flags: u64::from_ne_bytes(flags) }
        }
        event_type::STOP => KernelEvent::Stop,
        event_type::OPEN => KernelEvent::Open,
        event_type::CLOSE => KernelEvent::Close,
        event_type::OUTPUT => {
            // struct uhid_output_req { u8 data[4096]; u16 size; u8 rtype; }
            need(4 + DATA_MAX + 3)?;
            let size = usize::from(u16_at(4 + DATA_MAX));
            if size > DATA_MAX {
                return Err(DecodeError(format!("output report size {size} exceeds {DATA_MAX}")));
            }
            KernelEvent::Output { data: buf[4..4 + size].to_vec(), rtype: buf[4 + DATA_MAX + 2] }
        }
        event_type::GET_REPORT => {
            need(10)?;
            KernelEvent::GetReport { id: u32_at(4), rnum: buf[8], rtype: buf[9] }
        }
        event_type::SET_REPORT => {
            need(10)?;
            KernelEvent::SetReport { id: u32_at(4), rnum: buf[8], rtype: buf[9] }
        }
        other => KernelEvent::Unknown(other),
    })
}

/// Why an output report was not passed to the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The write carried a report-ID byte other than 0, but the descriptor has no IDs.
    #[error("the report carries report ID {0}, but a FIDO key has no report IDs")]
    ReportId(u8),
    /// More than one report's worth of data after the report-ID byte.
    #[error("{0} bytes is longer than one {REPORT_LEN}-byte report")]
    TooLong(usize),
    /// Nothing but the report-ID byte.
    #[error("empty output report")]
    Empty,
}

/// Turn what the kernel passed on for an output report into the packet the key's
/// interrupt OUT endpoint would see.
///
/// hidraw hands uhid the user's buffer unchanged, report-ID byte included. This applies
/// the rule a real USB key is subject to (the kernel's usbhid driver): a leading 0x00 is
/// the "no report ID" marker and is not transmitted; what follows is the packet. A
/// packet shorter than 64 bytes arrives zero-padded, as a short USB transfer lands in the
/// key's zeroed 64-byte buffer. So a host that forgets the 0x00 prefix sends a packet
/// shifted by one byte whenever the first byte is 0 (e.g. any channel id below 2^24),
/// and fails here exactly as it would against hardware.
pub fn packet_from_output(data: &[u8]) -> Result<Report, OutputError> {
    let packet = match data.first() {
        Some(0) => &data[1..],
        // usbhid would send a non-zero first byte as part of the packet; with no report
        // IDs declared, a 65-byte write with a non-zero first byte is a bogus report ID.
        Some(&id) if data.len() > REPORT_LEN => return Err(OutputError::ReportId(id)),
        Some(_) => data,
        None => return Err(OutputError::Empty),
    };
    if packet.is_empty() {
        return Err(OutputError::Empty);
    }
    if packet.len() > REPORT_LEN {
        return Err(OutputError::TooLong(packet.len()));
    }
    let mut report = [0u8; REPORT_LEN];
    report[..packet.len()].copy_from_slice(packet);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> DeviceIdentity {
        DeviceIdentity {
            name: "keystation virtual FIDO2 key".into(),
            phys: "keystation/uhid1.0".into(),
            uniq: "KS-0001".into(),
            bus: BUS_USB,
            vendor_id: 0x1209,
            product_id: 0x0001,
            version: 0x0100,
        }
    }

    #[test]
    fn event_size_matches_the_kernel_struct() {
        // type (4) + name 128 + phys 64 + uniq 64 + rd_size 2 + bus 2 + 4 x u32 + rd_data 4096
        assert_eq!(EVENT_SIZE, 4376);
    }

    #[test]
    fn create2_puts_every_field_at_its_offset() {
        let buf = encode_create2(&identity(), &FIDO_REPORT_DESCRIPTOR).unwrap();
        assert_eq!(u32::from_ne_bytes(buf[0..4].try_into().unwrap()), 11);
        assert_eq!(&buf[4..4 + 28], b"keystation virtual FIDO2 key");
        assert_eq!(buf[4 + 28], 0);
        assert_eq!(&buf[132..132 + 18], b"keystation/uhid1.0");
        assert_eq!(&buf[196..203], b"KS-0001");
        assert_eq!(u16::from_ne_bytes([buf[260], buf[261]]), 34);
        assert_eq!(u16::from_ne_bytes([buf[262], buf[263]]), 3);
        assert_eq!(u32::from_ne_bytes(buf[264..268].try_into().unwrap()), 0x1209);
        assert_eq!(u32::from_ne_bytes(buf[268..272].try_into().unwrap()), 0x0001);
        assert_eq!(u32::from_ne_bytes(buf[272..276].try_into().unwrap()), 0x0100);
        assert_eq!(u32::from_ne_bytes(buf[276..280].try_into().unwrap()), 0);
        assert_eq!(&buf[280..], &FIDO_REPORT_DESCRIPTOR);
    }

    #[test]
    fn create2_rejects_fields_that_do_not_fit() {
        let mut id = identity();
        id.uniq = "x".repeat(64);
        assert!(matches!(encode_create2(&id, &FIDO_REPORT_DESCRIPTOR), Err(EncodeError::TooLong { max: 63, .. })));
        id.uniq = "x".repeat(63);
        assert!(encode_create2(&id, &FIDO_REPORT_DESCRIPTOR).is_ok());
        id.name = "a\0b".into();
        assert!(matches!(encode_create2(&id, &FIDO_REPORT_DESCRIPTOR), Err(EncodeError::Nul { .. })));
        assert_eq!(encode_create2(&identity(), &[]), Err(EncodeError::Descriptor(0)));
    }

    #[test]
    fn descriptor_declares_the_fido_usage_page_and_64_byte_reports() {
        assert_eq!(&FIDO_REPORT_DESCRIPTOR[..5], &[0x06, 0xD0, 0xF1, 0x09, 0x01]);
        // No Report ID item (tag 0x85) anywhere.
        assert!(!FIDO_REPORT_DESCRIPTOR.contains(&0x85));
        assert_eq!(FIDO_REPORT_DESCRIPTOR.iter().filter(|&&b| b == 0x95).count(), 2);
    }

    #[test]
    fn usage_page_can_be_swapped() {
        let d = report_descriptor_with_usage_page(0xFF00);
        assert_eq!(&d[..3], &[0x06, 0x00, 0xFF]);
        assert_eq!(&d[3..], &FIDO_REPORT_DESCRIPTOR[3..]);
        assert_eq!(report_descriptor_with_usage_page(0xF1D0), FIDO_REPORT_DESCRIPTOR.to_vec());
    }

    #[test]
    fn input2_carries_the_bare_report() {
        let mut report = [0u8; REPORT_LEN];
        report[0] = 0xff;
        report[63] = 0x42;
        let buf = encode_input2(&report);
        assert_eq!(buf.len(), 70);
        assert_eq!(u32::from_ne_bytes(buf[0..4].try_into().unwrap()), 12);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 64);
        assert_eq!(&buf[6..], &report);
    }

    #[test]
    fn replies_and_destroy_have_the_kernel_layout() {
        assert_eq!(encode_destroy(), 1u32.to_ne_bytes());
        let r = encode_get_report_reply(7, 5);
        assert_eq!(r.len(), 12);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 10);
        assert_eq!(u32::from_ne_bytes(r[4..8].try_into().unwrap()), 7);
        assert_eq!(u16::from_ne_bytes([r[8], r[9]]), 5);
        let r = encode_set_report_reply(9, 5);
        assert_eq!(r.len(), 10);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 14);
    }

    fn raw_event(kind: u32) -> Vec<u8> {
        let mut buf = vec![0u8; EVENT_SIZE];
        buf[0..4].copy_from_slice(&kind.to_ne_bytes());
        buf
    }

    #[test]
    fn decodes_kernel_events() {
        let mut start = raw_event(2);
        start[4..12].copy_from_slice(&4u64.to_ne_bytes());
        assert_eq!(decode_event(&start).unwrap(), KernelEvent::Start { dev_flags: 4 });
        assert_eq!(decode_event(&raw_event(3)).unwrap(), KernelEvent::Stop);
        assert_eq!(decode_event(&raw_event(4)).unwrap(), KernelEvent::Open);
        assert_eq!(decode_event(&raw_event(5)).unwrap(), KernelEvent::Close);

        let mut out = raw_event(6);
        out[4] = 0;
        out[5] = 0xff;
        out[4 + DATA_MAX..4 + DATA_MAX + 2].copy_from_slice(&65u16.to_ne_bytes());
        out[4 + DATA_MAX + 2] = UHID_OUTPUT_REPORT;
        match decode_event(&out).unwrap() {
            KernelEvent::Output { data, rtype } => {
                assert_eq!(data.len(), 65);
                assert_eq!(&data[..2], &[0, 0xff]);
                assert_eq!(rtype, UHID_OUTPUT_REPORT);
            }
            other => panic!("unexpected {other:?}"),
        }

        let mut get = raw_event(9);
        get[4..8].copy_from_slice(&33u32.to_ne_bytes());
        get[8] = 3;
        get[9] = 0;
        assert_eq!(decode_event(&get).unwrap(), KernelEvent::GetReport { id: 33, rnum: 3, rtype: 0 });
        assert_eq!(decode_event(&raw_event(99)).unwrap(), KernelEvent::Unknown(99));
        assert!(decode_event(&[1, 0]).is_err());
        assert!(decode_event(&6u32.to_ne_bytes()).is_err());
    }

    #[test]
    fn output_with_the_no_report_id_marker_is_the_packet() {
        let mut data = vec![0u8; 65];
        data[1..5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        data[64] = 0x99;
        let packet = packet_from_output(&data).unwrap();
        assert_eq!(&packet[..4], &[0xff; 4]);
        assert_eq!(packet[63], 0x99);
    }

    #[test]
    fn output_without_the_marker_behaves_like_usbhid() {
        // First byte non-zero: taken as the packet itself (what usbhid would transmit).
        let mut data = vec![0u8; 64];
        data[..4].copy_from_slice(&[0xff; 4]);
        assert_eq!(packet_from_output(&data).unwrap()[..4], [0xff; 4]);
        // First byte zero: stripped as the marker, so the packet arrives shifted.
        let mut data = vec![0u8; 64];
        data[..4].copy_from_slice(&[0x00, 0x00, 0x00, 0x07]);
        data[4] = 0x90;
        let packet = packet_from_output(&data).unwrap();
        assert_eq!(&packet[..4], &[0x00, 0x00, 0x07, 0x90]);
        assert_eq!(packet[63], 0);
    }

    #[test]
    fn bogus_output_is_rejected() {
        assert_eq!(packet_from_output(&[]), Err(OutputError::Empty));
        assert_eq!(packet_from_output(&[0]), Err(OutputError::Empty));
        assert_eq!(packet_from_output(&[5; 65]), Err(OutputError::ReportId(5)));
        assert_eq!(packet_from_output(&[0; 66]), Err(OutputError::TooLong(65)));
    }
}
