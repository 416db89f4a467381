//! Real kernel HID tier: boot a small Linux guest under qemu in which
//! `keystation virtual-key --uhid` turns virtual keys into real `/dev/hidraw*` devices,
//! then check keystation's hidapi backend, its CLI and watcher, and libfido2's
//! `fido2-token` against them, and finally enroll a fresh key for a user with
//! `keystation enroll` against a `keystation simulator` inside the guest. The checks run
//! inside the guest (tests/vm/guest-init.sh, tests/vm/guest-enroll.sh, tests/vm/guest-replug.sh); this file builds
//! the guest, boots it and judges its console output.
//!
//! Needs the Debian packages qemu-system-x86, busybox-static, cpio, fido2-tools and
//! ca-certificates, and apt access once to download the kernel (cached under
//! ~/.cache/keystation-vm). When a package is missing the test skips loudly, unless
//! KEYSTATION_REQUIRE_VM is set (CI), then it fails. See docs/vm-tier.md.
#![cfg(target_os = "linux")]

#[path = "vm/harness.rs"]
mod harness;
#[path = "shared/json_output.rs"]
mod json_output;

use harness::{Accel, GuestRun, Verdict};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const KEYSTATION: &str = env!("CARGO_BIN_EXE_keystation");
/// Guest RAM: 128 MiB is the floor for unpacking the initramfs; leave room for the
/// keystation processes.
const GUEST_MEMORY_MIB: u32 = 512;

fn timeout() -> Duration {
    let secs = std::env::var("KEYSTATION_VM_TIMEOUT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(180);
    Duration::from_secs(secs)
}

#[test]
fn guest_checks_pass_through_a_real_hidraw() {
    let missing = harness::missing_needs();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|n| format!("{} (Debian package {})", n.program, n.package)).collect();
        let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
        let message = format!(
            "the VM tier needs {}; install with: apt-get install -y {}",
            list.join(", "),
            packages.join(" ")
        );
        if harness::vm_required() {
            panic!("KEYSTATION_REQUIRE_VM is set but {message}");
        }
        skip(&message);
        return;
    }

    let t = Instant::now();
    let kernel_dir = match harness::run_script("kernel.sh", &[]) {
        Ok(dir) => PathBuf::from(dir),
        // No kernel cached and apt cannot fetch one (offline machine).
        Err(e) if !harness::vm_required() => {
            skip(&format!("no guest kernel: {e}"));
            return;
        }
        Err(e) => panic!("KEYSTATION_REQUIRE_VM is set but there is no guest kernel: {e}"),
    };
    eprintln!("vm: kernel ready in {:.1?}: {}", t.elapsed(), kernel_dir.display());

    let work = tempfile::tempdir().expect("temporary directory");
    let initrd = work.path().join("initrd.cpio");
    let t = Instant::now();
    harness::run_script(
        "initramfs.sh",
        &[initrd.as_os_str(), kernel_dir.as_os_str(), Path::new(KEYSTATION).as_os_str()],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let size = std::fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0);
    eprintln!("vm: initramfs ({:.1} MB) built in {:.1?}", size as f64 / 1e6, t.elapsed());

    let accel = harness::choose_accel();
    let (run, verdict) = boot_and_judge(&kernel_dir, &initrd, accel);
    let (run, verdict) = match (accel, booted(&run)) {
        // A /dev/kvm that answered but cannot run a stock kernel: try again in software.
        (Accel::Kvm, false) => {
            eprintln!("vm: the guest did not boot under KVM; retrying with TCG");
            boot_and_judge(&kernel_dir, &initrd, Accel::Tcg)
        }
        _ => (run, verdict),
    };

    let problems = harness::problems(&run, &verdict, timeout());
    eprintln!("vm: {} check(s) passed, {} failed", verdict.passed.len(), verdict.failed.len());
    for line in verdict.failed.iter() {
        eprintln!("vm: FAIL {line}");
    }
    assert!(problems.is_empty(), "the VM tier failed:\n  - {}", problems.join("\n  - "));
}

/// Say loudly that the tier did not run (a Rust test cannot report "skipped").
fn skip(why: &str) {
    eprintln!("\n==================== VM TIER SKIPPED ====================");
    eprintln!("{why}");
    eprintln!("(set KEYSTATION_REQUIRE_VM=1 to make this a failure)");
    eprintln!("=========================================================\n");
}

fn boot_and_judge(kernel_dir: &Path, initrd: &Path, accel: Accel) -> (GuestRun, Verdict) {
    eprintln!("vm: booting with {accel:?} (timeout {:?})", timeout());
    let run = harness::boot(&kernel_dir.join("vmlinuz"), initrd, accel, GUEST_MEMORY_MIB, timeout())
        .unwrap_or_else(|e| panic!("{e}"));
    let ending = match (run.timed_out, run.exit) {
        (true, _) => "timed out, killed".to_string(),
        (false, Some(status)) => format!("qemu {status}"),
        (false, None) => "exit status unknown".to_string(),
    };
    eprintln!("vm: qemu ran {:.1?} ({accel:?}, {ending})", run.elapsed);
    let verdict = harness::parse(&run.lines);
    (run, verdict)
}

/// The guest's init printed its first line (SeaBIOS may leave text before it).
fn booted(run: &GuestRun) -> bool {
    run.lines.iter().any(|l| l.contains("VM-BOOTED"))
}

/// Outside the guest there is (normally) no /dev/uhid: the command must say what is
/// missing and exit with the environment code, not crash or hang.
#[test]
fn virtual_key_uhid_without_uhid_node_is_an_environment_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("uhid");
    let out = Command::new(KEYSTATION)
        .args(["virtual-key", "--uhid", "--uhid-path"])
        .arg(&missing)
        .env("KEYSTATION_STATE_DIR", dir.path())
        .output()
        .expect("run keystation");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "stderr: {stderr}");
    assert!(stderr.contains("modprobe uhid"), "stderr: {stderr}");

    let out = Command::new(KEYSTATION)
        .args(["--json", "virtual-key", "--uhid", "--uhid-path"])
        .arg(&missing)
        .env("KEYSTATION_STATE_DIR", dir.path())
        .output()
        .expect("run keystation");
    assert_eq!(out.status.code(), Some(11));
    let e = json_output::error(&out.stdout);
    assert_eq!(e["kind"], "environment");
}

#[test]
fn virtual_key_command_line_mistakes_are_usage_errors() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let run = |args: &[&str]| {
        let out = Command::new(KEYSTATION).args(args).env("KEYSTATION_STATE_DIR", dir.path()).output().expect("run keystation");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, stderr) = run(&["virtual-key"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--uhid"), "{stderr}");
    let (code, stderr) = run(&["--virtual", "1", "virtual-key", "--uhid"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--count"), "{stderr}");
    let (code, stderr) = run(&["virtual-key", "--uhid", "--touch", "soon"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("instant, deny, never"), "{stderr}");
    let (code, stderr) = run(&["virtual-key", "--uhid", "--count", "0"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn console_parser_accepts_only_a_complete_clean_run() {
    let run = |lines: &[&str], timed_out| GuestRun {
        lines: lines.iter().map(|s| s.to_string()).collect(),
        timed_out,
        elapsed: Duration::from_secs(1),
        exit: None,
    };
    let judge = |r: &GuestRun| harness::problems(r, &harness::parse(&r.lines), Duration::from_secs(1));

    let good = run(&["VM-BOOTED", "PLAN 2", "PASS a", "[ 1.0] noise", "PASS b", "2 passed, 0 failed"], false);
    assert!(judge(&good).is_empty(), "{:?}", judge(&good));

    let failed = run(&["PLAN 2", "PASS a", "FAIL b: boom", "1 passed, 1 failed"], false);
    assert!(judge(&failed).iter().any(|p| p.contains("b: boom")));

    let no_summary = run(&["PLAN 1", "PASS a"], false);
    assert!(judge(&no_summary).iter().any(|p| p.contains("summary")));

    let short = run(&["PLAN 3", "PASS a", "1 passed, 0 failed"], false);
    assert!(judge(&short).iter().any(|p| p.contains("planned 3")));

    let timed_out = run(&["PLAN 1", "PASS a", "1 passed, 0 failed"], true);
    assert!(judge(&timed_out).iter().any(|p| p.contains("power off")));

    let lying = run(&["PLAN 1", "PASS a", "2 passed, 0 failed"], false);
    assert!(!judge(&lying).is_empty());
}

#[test]
fn console_lines_lose_terminal_codes() {
    assert_eq!(harness::strip_terminal_codes("\u{1b}c\u{1b}[?7l\u{1b}[2JVM-BOOTED uptime=1.80\r"), "VM-BOOTED uptime=1.80");
    assert_eq!(harness::strip_terminal_codes("\u{1b}cPASS a"), "PASS a");
    assert_eq!(harness::strip_terminal_codes("\u{1b}[0mPASS b\r"), "PASS b");
}
