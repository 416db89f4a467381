//! `keystation virtual-key --uhid`: expose virtual FIDO2 keys to the operating system as
//! kernel HID devices (Linux `/dev/uhid`), so that any FIDO client on the machine (a
//! browser, libfido2's tools, keystation itself through hidapi) sees a security key.
use crate::cli::{CliContext, CliError, Exit};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `keystation virtual-key`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Linux only. Needs the uhid and hid-generic kernel modules and write access to /dev/uhid \
(root, or a udev rule); see docs/vm-tier.md. Runs until Ctrl-C or SIGTERM, then removes the devices.")]
pub struct VirtualKeyArgs {
    /// Expose the keys as kernel HID devices through /dev/uhid (the only mode so far).
    #[arg(long)]
    pub uhid: bool,
    /// How many keys to create.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub count: u16,
    /// What the simulated user does when a key asks for a touch: `instant`, `deny`,
    /// `never`, or a delay such as `1500ms` or `3s`.
    #[arg(long, value_name = "WHEN", default_value = "instant", value_parser = parse_touch)]
    pub touch: TouchArg,
    /// Product name the kernel shows (hidapi's product string).
    #[arg(long, value_name = "NAME", default_value = "keystation Virtual FIDO2 Key")]
    pub name: String,
    /// Serial number (the HID "uniq" string). With --count N the keys get SERIAL-1 … SERIAL-N.
    /// Default: random, or the serial kept in --virtual-state.
    #[arg(long, value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Keep the keys' storage in DIR (the same files as `--virtual N --virtual-state DIR`).
    #[arg(long, env = "KEYSTATION_VIRTUAL_STATE", value_name = "DIR")]
    pub virtual_state: Option<PathBuf>,
    /// The kernel's UHID device node.
    #[arg(long, value_name = "PATH", default_value = "/dev/uhid")]
    pub uhid_path: PathBuf,
    /// How long to wait for each key's /dev/hidrawN node to appear.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub hidraw_timeout: u64,
    /// Test aid: announce this HID usage page instead of FIDO's 0xF1D0, so that the
    /// device is NOT a FIDO key to clients that filter by usage page (as they must).
    #[arg(long, value_name = "PAGE", value_parser = parse_u16, hide = true)]
    pub usage_page: Option<u16>,
}

fn parse_u16(text: &str) -> Result<u16, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => t.parse::<u16>(),
    };
    parsed.map_err(|_| format!("`{text}` is not a 16-bit number (e.g. 0xFF00 or 65280)"))
}

/// `--touch`: how the simulated user reacts to a touch request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchArg {
    /// Touch at once.
    Instant,
    /// Refuse every request.
    Deny,
    /// Never touch (requests time out).
    Never,
    /// Touch after this delay.
    After(Duration),
}

fn parse_touch(text: &str) -> Result<TouchArg, String> {
    let lower = text.trim().to_ascii_lowercase();
    match lower.as_str() {
        "instant" => return Ok(TouchArg::Instant),
        "deny" => return Ok(TouchArg::Deny),
        "never" => return Ok(TouchArg::Never),
        _ => {}
    }
    let (number, unit) = match lower.strip_suffix("ms") {
        Some(n) => (n, 1u64),
        None => match lower.strip_suffix('s') {
            Some(n) => (n, 1000u64),
            None => (lower.as_str(), 0),
        },
    };
    match (number.trim().parse::<u64>(), unit) {
        (Ok(n), unit) if unit > 0 => Ok(TouchArg::After(Duration::from_millis(n.saturating_mul(unit)))),
        _ => Err(format!("`{text}` is not a touch behaviour: use instant, deny, never, or a delay such as 1500ms or 3s")),
    }
}

/// Run `keystation virtual-key`.
pub async fn run(args: VirtualKeyArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    if !args.uhid {
        return Err(CliError::usage(
            "say how to expose the keys: --uhid (Linux kernel HID devices through /dev/uhid); for in-process virtual keys use the global --virtual N instead",
        ));
    }
    platform::run(args, ctx).await
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use super::*;

    pub async fn run(_args: VirtualKeyArgs, _ctx: &CliContext) -> Result<Exit, CliError> {
        Err(CliError::new(
            Exit::Environment,
            "keystation virtual-key --uhid works only on Linux: it needs the kernel's /dev/uhid. On this system use in-process virtual keys (--virtual N) instead",
        ))
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use super::*;
    use crate::key::uhid::{self, DeviceIdentity, UhidError, UhidKey, UhidKeyConfig};
    use crate::key::virtual_key::{Touch, VirtualKey, VirtualKeyConfig};
    use serde::Serialize;

    /// How often the wait loop checks that every bridge is still running.
    const HEALTH_CHECK: Duration = Duration::from_millis(200);

    /// One served key as printed (`--json`: one line per event).
    #[derive(Serialize)]
    struct KeyLine<'a> {
        index: usize,
        hidraw: &'a str,
        name: &'a str,
        serial: &'a str,
        vendor_id: u16,
        product_id: u16,
        aaguid: String,
    }

    struct Served {
        key: VirtualKey,
        uhid: UhidKey,
        hidraw: String,
    }

    /// Why serving ended.
    enum Ending {
        /// Ctrl-C or SIGTERM.
        Signal,
        /// The bridge of this key (index into the served list) ended on its own.
        BridgeEnded(usize),
    }

    pub async fn run(args: VirtualKeyArgs, ctx: &CliContext) -> Result<Exit, CliError> {
        if ctx.global.virtual_keys.is_some() {
            return Err(CliError::usage("--virtual N does not apply to `keystation virtual-key`; use --count N"));
        }
        // Catch the signals before the first device exists: a Ctrl-C during start-up
        // must still remove the devices made so far (it is acted on once they are up).
        let mut signals = Signals::new()?;
        let mut served: Vec<Served> = Vec::new();
        let ending = match start_all(&args, ctx, &mut served) {
            Ok(()) => {
                if !ctx.json() {
                    errln!("Serving {} virtual key(s) through {}; press Ctrl-C to stop.", served.len(), args.uhid_path.display());
                }
                Ok(wait_for_stop(&served, &mut signals).await)
            }
            Err(e) => Err(e),
        };
        // Destroy every device, whatever happened: a leftover hidraw node would confuse
        // the next FIDO client.
        let mut first_error = None;
        for (index, s) in served.into_iter().enumerate() {
            let identity = s.uhid.identity().clone();
            let stopped = s.uhid.stop();
            print_key(ctx, "destroyed", index, &s.hidraw, &identity, &s.key);
            let unexpected = matches!(ending, Ok(Ending::BridgeEnded(i)) if i == index);
            let error = match stopped {
                Err(e) if unexpected => {
                    let e = uhid_error(e);
                    Some(CliError::new(e.code, format!("virtual key {} ({}) stopped serving: {}", index + 1, s.hidraw, e.message)))
                }
                Err(e) => Some(uhid_error(e)),
                Ok(end) if unexpected => Some(CliError::failure(format!("virtual key {} ({}) stopped serving: {end:?}", index + 1, s.hidraw))),
                Ok(_) => None,
            };
            if let Some(e) = error {
                first_error.get_or_insert(e);
            }
        }
        match (ending, first_error) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(e)) => Err(e),
            (Ok(_), None) => Ok(Exit::Ok),
        }
    }

    /// Create every key and its kernel device, announcing each hidraw node.
    fn start_all(args: &VirtualKeyArgs, ctx: &CliContext, served: &mut Vec<Served>) -> Result<(), CliError> {
        let count = usize::from(args.count);
        for index in 0..count {
            let key = make_key(args, ctx, index, count)?;
            let descriptor = key.descriptor();
            let serial = descriptor.serial.clone().unwrap_or_default();
            let identity = DeviceIdentity {
                name: args.name.clone(),
                phys: uhid::unique_phys(index),
                uniq: serial,
                bus: uhid::BUS_USB,
                vendor_id: descriptor.vendor_id,
                product_id: descriptor.product_id,
                version: 0x0100,
            };
            let io = key.open().map_err(|e| CliError::failure(format!("cannot open virtual key {}: {e}", index + 1)))?;
            let mut config = UhidKeyConfig { uhid_path: args.uhid_path.clone(), ..UhidKeyConfig::new(identity.clone()) };
            if let Some(page) = args.usage_page {
                config.descriptor = uhid::report_descriptor_with_usage_page(page);
            }
            let uhid_key = UhidKey::spawn(config, io).map_err(uhid_error)?;
            let timeout = Duration::from_secs(args.hidraw_timeout);
            // A bounded blocking wait (sysfs has no change notification).
            let hidraw = match tokio::task::block_in_place(|| uhid_key.wait_for_hidraw(timeout)) {
                Ok(path) => path.display().to_string(),
                Err(e) => {
                    let _ = uhid_key.stop();
                    return Err(uhid_error(e));
                }
            };
            print_key(ctx, "created", index, &hidraw, &identity, &key);
            served.push(Served { key, uhid: uhid_key, hidraw });
        }
        Ok(())
    }

    fn make_key(args: &VirtualKeyArgs, ctx: &CliContext, index: usize, count: usize) -> Result<VirtualKey, CliError> {
        let serial = args.serial.as_ref().map(|s| if count == 1 { s.clone() } else { format!("{s}-{}", index + 1) });
        let config = VirtualKeyConfig { serial, touch: touch(args.touch), ..VirtualKeyConfig::default() };
        let key = match &ctx.global.virtual_state {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CliError::usage(format!("cannot create the virtual key state directory {}: {e}", dir.display())))?;
                // The same layout as `--virtual N --virtual-state DIR`, so that both
                // modes open the same keys (one process at a time: the files are locked).
                VirtualKey::with_state_file(config, &dir.join(format!("key-{index}.store")))
            }
            None => VirtualKey::try_new(config),
        };
        key.map_err(|e| CliError::failure(format!("cannot start virtual key {}: {e}", index + 1)))
    }

    fn touch(arg: TouchArg) -> Touch {
        match arg {
            TouchArg::Instant => Touch::Instant,
            TouchArg::Deny => Touch::Deny,
            TouchArg::Never => Touch::Never,
            TouchArg::After(d) => Touch::After(d),
        }
    }

    /// SIGINT and SIGTERM, caught for the whole run.
    struct Signals {
        interrupt: tokio::signal::unix::Signal,
        terminate: tokio::signal::unix::Signal,
    }

    impl Signals {
        fn new() -> Result<Signals, CliError> {
            use tokio::signal::unix::{signal, SignalKind};
            let watch = |kind, name| signal(kind).map_err(|e| CliError::failure(format!("cannot watch {name}: {e}")));
            Ok(Signals { interrupt: watch(SignalKind::interrupt(), "SIGINT")?, terminate: watch(SignalKind::terminate(), "SIGTERM")? })
        }
    }

    /// Until Ctrl-C or SIGTERM, or until a bridge ends on its own.
    async fn wait_for_stop(served: &[Served], signals: &mut Signals) -> Ending {
        let mut health = tokio::time::interval(HEALTH_CHECK);
        loop {
            tokio::select! {
                _ = signals.interrupt.recv() => return Ending::Signal,
                _ = signals.terminate.recv() => return Ending::Signal,
                _ = health.tick() => {
                    if let Some(index) = served.iter().position(|s| s.uhid.is_finished()) {
                        return Ending::BridgeEnded(index);
                    }
                }
            }
        }
    }

    fn print_key(ctx: &CliContext, event: &'static str, index: usize, hidraw: &str, identity: &DeviceIdentity, key: &VirtualKey) {
        if ctx.json() {
            let line = KeyLine {
                index,
                hidraw,
                name: &identity.name,
                serial: &identity.uniq,
                vendor_id: identity.vendor_id,
                product_id: identity.product_id,
                aaguid: uuid::Uuid::from_bytes(key.aaguid()).to_string(),
            };
            // One event line per key: a long-running command streams its events.
            ctx.emit_event(event, &line);
        } else {
            match event {
                "created" => outln!("virtual key {}: {hidraw} (serial {}, {})", index + 1, identity.uniq, identity.name),
                _ => outln!("virtual key {}: {hidraw} removed", index + 1),
            }
        }
    }

    fn uhid_error(e: UhidError) -> CliError {
        let code = if e.is_environment() { Exit::Environment } else { Exit::Failure };
        CliError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_behaviours_parse() {
        assert_eq!(parse_touch("instant"), Ok(TouchArg::Instant));
        assert_eq!(parse_touch("Deny"), Ok(TouchArg::Deny));
        assert_eq!(parse_touch("never"), Ok(TouchArg::Never));
        assert_eq!(parse_touch("1500ms"), Ok(TouchArg::After(Duration::from_millis(1500))));
        assert_eq!(parse_touch("3s"), Ok(TouchArg::After(Duration::from_secs(3))));
        assert!(parse_touch("soon").unwrap_err().contains("instant, deny, never"));
        assert!(parse_touch("12").is_err());
    }

    #[test]
    fn usage_pages_parse_in_hex_or_decimal() {
        assert_eq!(parse_u16("0xFF00"), Ok(0xFF00));
        assert_eq!(parse_u16("61904"), Ok(0xF1D0));
        assert!(parse_u16("0x10000").is_err());
    }
}
