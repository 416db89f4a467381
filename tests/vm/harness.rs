//! Host side of the VM tier: prerequisites, kernel cache, initramfs, qemu, and the
//! parsing of the guest's serial console.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The scripts and guest files live next to this file.
pub fn vm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm")
}

/// True when the tier must run (CI): a missing package is then a failure, not a skip.
pub fn vm_required() -> bool {
    std::env::var("KEYSTATION_REQUIRE_VM").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A program (or, when it starts with `/`, a file) the tier needs and the Debian package
/// that provides it.
pub struct Need {
    pub program: &'static str,
    pub package: &'static str,
}

/// The system CA bundle copied into the guest: keystation's HTTP client loads the
/// system's trust roots even for the simulator's plain-HTTP loopback URLs.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Everything the tier runs on the host. apt-get/dpkg-deb are only needed until the
/// kernel is cached, so they are checked by kernel.sh, which falls back to the cache.
pub const NEEDS: &[Need] = &[
    Need { program: "qemu-system-x86_64", package: "qemu-system-x86" },
    Need { program: "busybox", package: "busybox-static" },
    Need { program: "cpio", package: "cpio" },
    Need { program: "fido2-token", package: "fido2-tools" },
    Need { program: CA_BUNDLE, package: "ca-certificates" },
];

/// The needs whose program is not on PATH or whose file does not exist (and busybox
/// when it is not the static build).
pub fn missing_needs() -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|need| match find_program(need.program) {
            None => true,
            // A dynamically linked busybox (package `busybox`) cannot run in the guest.
            Some(path) if need.program == "busybox" => !is_static(&path),
            Some(_) => false,
        })
        .collect()
}

fn find_program(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') {
        return Some(PathBuf::from(name)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn is_static(path: &Path) -> bool {
    // ldd fails ("not a dynamic executable") on static binaries.
    Command::new("ldd").arg(path).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| !s.success())
}

/// Where downloaded kernels are cached between runs (outside the repository).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYSTATION_VM_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("keystation-vm")
}

/// Run a helper script; its stdout is the result, its stderr goes to ours.
pub fn run_script(script: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let path = vm_dir().join(script);
    let out = Command::new("sh")
        .arg(&path)
        .args(args)
        .env("KEYSTATION_VM_CACHE", cache_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", path.display(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// How qemu executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation: only where the CPU has vmx/svm and /dev/kvm answers.
    Kvm,
    /// qemu's software emulator: works everywhere.
    Tcg,
}

impl Accel {
    fn qemu_args(self) -> [&'static str; 4] {
        match self {
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => ["-accel", "tcg,tb-size=64", "-cpu", "max"],
        }
    }
}

/// KVM only where the CPU advertises vmx or svm AND /dev/kvm opens and answers
/// KVM_GET_API_VERSION. Some build machines have a paravirtual `kvm-pvm` /dev/kvm with
/// neither flag, on which stock kernels hang: /dev/kvm alone proves nothing.
/// `KEYSTATION_VM_ACCEL=tcg|kvm` overrides the choice.
pub fn choose_accel() -> Accel {
    match std::env::var("KEYSTATION_VM_ACCEL").as_deref() {
        Ok("tcg") => return Accel::Tcg,
        Ok("kvm") => return Accel::Kvm,
        _ => {}
    }
    if cpu_has_virtualisation() && kvm_answers() { Accel::Kvm } else { Accel::Tcg }
}

fn cpu_has_virtualisation() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|flag| flag == "vmx" || flag == "svm"))
    })
}

fn kvm_answers() -> bool {
    use std::os::fd::AsRawFd;
    const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00; // _IO(KVMIO, 0x00)
    const KVM_API_VERSION: libc::c_int = 12;
    let Ok(kvm) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") else {
        return false;
    };
    // SAFETY: an argument-less ioctl on a file we own.
    let version = unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_GET_API_VERSION as _, 0) };
    version == KVM_API_VERSION
}

/// What the guest printed and how the run ended.
#[derive(Debug)]
pub struct GuestRun {
    pub lines: Vec<String>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub exit: Option<std::process::ExitStatus>,
}

/// Boot the guest and collect its console until it powers off or `timeout` passes
/// (then qemu is killed). Every console line is echoed to stderr as it arrives.
pub fn boot(kernel: &Path, initrd: &Path, accel: Accel, memory_mib: u32, timeout: Duration) -> Result<GuestRun, String> {
    let started = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args(accel.qemu_args())
        .args(["-m", &memory_mib.to_string(), "-smp", "1"])
        .args(["-nodefaults", "-nographic", "-display", "none", "-no-reboot", "-serial", "stdio"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 quiet loglevel=3 panic=-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;

    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().ok_or("qemu has no stdout")?;
    let stderr = child.stderr.take().ok_or("qemu has no stderr")?;
    let out_tx = tx.clone();
    let readers = [
        std::thread::spawn(move || forward_lines(stdout, out_tx, "")),
        std::thread::spawn(move || forward_lines(stderr, tx, "qemu stderr: ")),
    ];

    let deadline = started + timeout;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                eprintln!("guest {:>5.1}s| {line}", started.elapsed().as_secs_f64());
                lines.push(line);
            }
            // Both readers ended: qemu closed its output, i.e. it exited.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    if timed_out {
        let _ = child.kill();
    }
    let exit = child.wait().ok();
    for reader in readers {
        let _ = reader.join();
    }
    // Lines that raced the kill.
    while let Ok(line) = rx.try_recv() {
        eprintln!("guest {:>5.1}s| {line}", started.elapsed().as_secs_f64());
        lines.push(line);
    }
    Ok(GuestRun { lines, timed_out, elapsed: started.elapsed(), exit })
}

fn forward_lines(pipe: impl std::io::Read, tx: mpsc::Sender<String>, prefix: &str) {
    // The serial console ends lines with CRLF and may carry stray bytes; keep going.
    for line in BufReader::new(pipe).split(b'\n') {
        let Ok(line) = line else { break };
        let text = strip_terminal_codes(&String::from_utf8_lossy(&line));
        if tx.send(format!("{prefix}{text}")).is_err() {
            break;
        }
    }
}

/// Remove terminal escape sequences (SeaBIOS clears the screen before the guest's first
/// line) and control characters, so that check lines start at the line start.
pub fn strip_terminal_codes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            // CSI (ESC [ parameters final-byte) is skipped up to its final byte in @..~;
            // two-character sequences such as ESC c (reset) lose both characters.
            '\u{1b}' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The verdict read from the console.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// `PLAN n`: how many checks the guest announced.
    pub plan: Option<usize>,
    /// Names of the checks that printed `PASS name`.
    pub passed: Vec<String>,
    /// `name: reason` of the checks that printed `FAIL name: reason`.
    pub failed: Vec<String>,
    /// `N passed, M failed` as the guest counted it.
    pub summary: Option<(usize, usize)>,
}

/// Parse the console lines. Check lines must start the line (kernel messages go to the
/// same console but are silenced by `loglevel=3`).
pub fn parse(lines: &[String]) -> Verdict {
    let mut v = Verdict::default();
    for line in lines {
        if let Some(n) = line.strip_prefix("PLAN ") {
            v.plan = n.trim().parse().ok();
        } else if let Some(name) = line.strip_prefix("PASS ") {
            v.passed.push(name.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            v.failed.push(rest.trim().to_string());
        } else if let Some(summary) = parse_summary(line) {
            v.summary = Some(summary);
        }
    }
    v
}

fn parse_summary(line: &str) -> Option<(usize, usize)> {
    let (passed, rest) = line.split_once(" passed, ")?;
    let failed = rest.strip_suffix(" failed")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

/// Every reason the run counts as failed; empty means success.
pub fn problems(run: &GuestRun, v: &Verdict, timeout: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    if run.timed_out {
        problems.push(format!("the guest did not power off within {timeout:?} (qemu was killed)"));
    }
    for fail in &v.failed {
        problems.push(format!("check failed: {fail}"));
    }
    match v.summary {
        None => problems.push("the guest printed no `N passed, M failed` summary".into()),
        Some((passed, failed)) => {
            if passed != v.passed.len() || failed != v.failed.len() {
                problems.push(format!(
                    "the summary says {passed} passed, {failed} failed, but the console shows {} PASS and {} FAIL lines",
                    v.passed.len(),
                    v.failed.len()
                ));
            }
        }
    }
    match v.plan {
        None => problems.push("the guest printed no `PLAN n` line".into()),
        Some(plan) if v.passed.len() + v.failed.len() != plan => problems.push(format!(
            "the guest planned {plan} checks but {} reported (some did not run)",
            v.passed.len() + v.failed.len()
        )),
        Some(_) => {}
    }
    if v.passed.is_empty() {
        problems.push("no check passed".into());
    }
    problems
}
