//! Options that apply: an option a command does not use is refused (or not shown), not
//! ignored; every help page lists its exit codes.
use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_command_does_not_use_are_refused() {
    let w = World::new().await;
    for args in [
        &["--virtual", "5", "demo", "--users", "1"][..],
        &["--virtual", "3", "report"][..],
        &["report", "--virtual", "3"][..],
        &["--config", "/nonexistent.toml", "keys", "list"][..],
        &["--state-dir", "/tmp", "simulator", "--print-default-tenant"][..],
    ] {
        let mut cmd = w.command(None, None, args, &[]);
        let out = cmd.stdin(std::process::Stdio::null()).output().await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} is refused: {}", show(&out));
        assert!(text(&out.stderr).contains("does not apply") || text(&out.stderr).contains("unexpected argument"), "{args:?}: {}", show(&out));
    }
    // Where it applies, --virtual works before and after the subcommand.
    for args in [&["--virtual", "2", "keys", "list"][..], &["keys", "list", "--virtual", "2"][..], &["keys", "--virtual", "2", "list"][..]] {
        let out = w.run(None, None, args, &[], "").await;
        assert!(out.status.success() && text(&out.stdout).contains("virtual:1"), "{args:?}: {}", show(&out));
    }
}

#[test]
fn help_pages_list_exit_codes_and_only_the_options_that_apply() {
    for (path, _) in command_paths() {
        let mut args: Vec<&str> = path.split(' ').filter(|s| !s.is_empty()).collect();
        args.push("--help");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keystation")).args(&args).output().unwrap();
        let help = text(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        let codes = keystation::cli::exit::codes_of(&path).unwrap_or_else(|| panic!("`{path}` has no exit codes in cli::exit::codes_of"));
        assert!(help.contains("Exit codes: 0 "), "`{path}` --help lists no exit codes:\n{help}");
        for c in codes {
            assert!(help.contains(&format!(", {c} ")), "`{path}` --help leaves out exit {c}:\n{help}");
        }
        let uses_keys = path.starts_with("keys") || ["enroll", "open", "batch", "kiosk", "doctor", "console", "reimage"].contains(&path.as_str());
        assert_eq!(help.contains("  --virtual <N>"), uses_keys, "`{path}` --help and --virtual:\n{help}");
    }
    // The two the issue named.
    let help = |cmd: &str| text(&std::process::Command::new(env!("CARGO_BIN_EXE_keystation")).args([cmd, "--help"]).output().unwrap().stdout);
    assert!(help("enroll").contains(", 11 "), "enroll's help names exit 11");
    assert!(help("batch").contains(", 2 "), "batch's help names exit 2");
}
