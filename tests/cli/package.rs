//! The Debian package (packaging/build-deb.sh) built from the binary these tests already
//! built, its contents checked, then installed into a throw-away root made here
//! (`dpkg --root`, maintainer scripts chrootless with DPKG_ROOT set, so nothing on this
//! machine changes), run from there, removed and purged.
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({:?}):\n{all}", out.status.code());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

fn dpkg(root: &Path) -> Command {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", root.display())).arg(format!("--log={}", root.join("var/log/dpkg.log").display()));
    c.args(["--force-script-chrootless", "--force-depends"]);
    if unsafe { libc::geteuid() } != 0 {
        c.arg("--force-not-root");
    }
    c
}

const FILES: &[&str] = &[
    "./usr/bin/keystation",
    "./usr/lib/udev/rules.d/70-keystation.rules",
    "./usr/lib/systemd/system/keystation-kiosk.service",
    "./usr/lib/sysusers.d/keystation.conf",
    "./etc/keystation/keystation.toml",
    "./usr/share/man/man1/keystation.1.gz",
    "./usr/share/man/man1/keystation-enroll.1.gz",
    "./usr/share/man/man1/keystation-keys-credentials-delete.1.gz",
    "./usr/share/bash-completion/completions/keystation",
    "./usr/share/zsh/vendor-completions/_keystation",
    "./usr/share/fish/vendor_completions.d/keystation.fish",
    "./usr/share/doc/keystation/copyright",
    "./usr/share/doc/keystation/changelog.gz",
];

#[test]
fn the_debian_package_installs_runs_and_goes_away_in_a_throwaway_root() {
    if !have("dpkg-deb") {
        assert!(std::env::var_os("KEYSTATION_REQUIRE_PACKAGE").is_none(), "dpkg-deb is missing");
        eprintln!("skipped: dpkg-deb is not installed (tests/run-all.sh installs it)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_keystation");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let deb = run(Command::new(repo.join("packaging/build-deb.sh")).arg(bin).arg(&out).env("DEB_COMPRESS", "gzip").env("DEB_LEVEL", "1"));
    let deb = Path::new(deb.trim());
    let version = run(Command::new(bin).arg("--version")).split_whitespace().nth(1).unwrap().to_string();
    assert!(deb.file_name().unwrap().to_str().unwrap().starts_with(&format!("keystation_{version}_")), "{}", deb.display());

    // Contents: every file, root-owned; a man page per subcommand; the template a conffile.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    for f in FILES {
        let line = listing.lines().find(|l| l.ends_with(&format!(" {f}"))).unwrap_or_else(|| panic!("{f} missing:\n{listing}"));
        assert!(line.contains(" root/root "), "{line}");
    }
    let pages = listing.lines().filter(|l| l.contains("/man1/keystation")).count();
    run(Command::new(bin).args(["man", "--dir", tmp.path().join("pages").to_str().unwrap()]));
    let written = std::fs::read_dir(tmp.path().join("pages")).unwrap().count();
    assert!(pages == written && pages > 30, "one page per command: {pages} in the package, {written} from the binary");
    assert_eq!(run(Command::new("dpkg-deb").args(["-f"]).arg(deb).arg("Version")).trim(), version);
    let ctrl = tmp.path().join("ctrl");
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&ctrl));
    assert_eq!(std::fs::read_to_string(ctrl.join("conffiles")).unwrap().trim(), "/etc/keystation/keystation.toml");

    // lintian: clean (errors and warnings fail; overrides, if any, carry their reason).
    if have("lintian") {
        run(Command::new("lintian").args(["--fail-on", "error,warning", "--tag-display-limit", "0"]).arg(deb));
    } else {
        assert!(std::env::var_os("KEYSTATION_REQUIRE_PACKAGE").is_none(), "lintian is missing");
    }

    // A throw-away root with an empty dpkg database.
    let root = tmp.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let host_group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    run(dpkg(&root).arg("-i").arg(deb));
    for f in FILES {
        assert!(root.join(f).exists(), "{f} not installed");
    }
    if have("systemd-sysusers") {
        let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
        assert!(group.lines().any(|l| l.starts_with("keystation:x:")), "postinst made the group in the root: {group}");
    }
    assert_eq!(std::fs::read_to_string("/etc/group").unwrap_or_default(), host_group, "this machine's groups are untouched");
    let status = run(Command::new("dpkg-query").arg(format!("--admindir={}", root.join("var/lib/dpkg").display())).args(["-W", "-f=${Status} ${Version}\n${Conffiles}\n", "keystation"]));
    assert!(status.starts_with(&format!("install ok installed {version}")), "{status}");
    assert!(status.contains("/etc/keystation/keystation.toml"), "{status}");

    // The installed binary runs; its man page and completions load.
    let installed = root.join("usr/bin/keystation");
    assert_eq!(run(Command::new(&installed).arg("--version")).trim(), format!("keystation {version}"));
    let home = tmp.path().join("home");
    // The lookup ends at the system-wide file the package installs.
    let path = run(Command::new(&installed).args(["--json", "config", "path"]).env_clear().env("HOME", &home).env("NO_COLOR", "1"));
    let search: serde_json::Value = serde_json::from_str(&path).unwrap();
    assert_eq!(search["result"]["search"].as_array().and_then(|s| s.last()).map(|l| l["path"].clone()), Some("/etc/keystation/keystation.toml".into()), "{path}");
    let template = std::fs::read_to_string(root.join("etc/keystation/keystation.toml")).unwrap();
    assert!(template.contains("[tenant]") && template.contains("[kiosk]"), "{template}");
    let page = run(Command::new("sh").arg("-c").arg(format!("gzip -dc {}", root.join("usr/share/man/man1/keystation-enroll.1.gz").display())));
    assert!(page.starts_with(".ie") || page.contains(".TH keystation-enroll"), "{}", &page[..page.len().min(300)]);
    if have("man") {
        let shown = run(Command::new("man").arg("-l").arg(root.join("usr/share/man/man1/keystation-enroll.1.gz")).env("MANPAGER", "cat").env("MANWIDTH", "100"));
        assert!(shown.contains("keystation-enroll") && shown.contains("--tenant"), "{shown}");
    }
    let bash_script = root.join("usr/share/bash-completion/completions/keystation");
    let complete = run(Command::new("bash").arg("-c").arg(format!("source {} && complete -p keystation", bash_script.display())));
    assert!(complete.contains("keystation"), "{complete}");
    for (shell, file) in [("zsh", "usr/share/zsh/vendor-completions/_keystation"), ("fish", "usr/share/fish/vendor_completions.d/keystation.fish")] {
        if have(shell) {
            run(Command::new(shell).arg("-n").arg(root.join(file)));
        }
    }

    // Remove keeps the conffile; purge takes it.
    run(dpkg(&root).arg("-r").arg("keystation"));
    assert!(!installed.exists() && !root.join("usr/lib/udev/rules.d/70-keystation.rules").exists());
    assert!(root.join("etc/keystation/keystation.toml").exists(), "remove keeps the configuration");
    run(dpkg(&root).arg("--purge").arg("keystation"));
    assert!(!root.join("etc/keystation/keystation.toml").exists(), "purge takes the configuration");
}
