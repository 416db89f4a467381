//! The state directory through the binary: `report` reads a read-only one without
//! writing anything, and a writing command on a read-only directory or on a file says
//! what to fix (exit 2) before it touches anything.
use crate::common::{stderr, stdout, write_file};
use keystation::station::journal::*;
use keystation::station::JobState;
use std::path::Path;
use std::process::{Command, Output};

/// Run keystation with a clean environment. When the tests run as root (CI containers),
/// permissions do not stop root, so the binary runs as `nobody` (uid 65534) instead.
fn keystation_unprivileged(args: &[&str], home: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keystation"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .args(args);
    #[cfg(unix)]
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    }
    cmd.output().expect("run keystation")
}

#[cfg(unix)]
fn chmod_tree(dir: &Path, dir_mode: u32, file_mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            chmod_tree(&p, dir_mode, file_mode);
        } else {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(file_mode)).unwrap();
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
}

/// A state directory with a journal of two jobs, closed (no -wal/-shm left), made
/// read-only for everybody but root; its parents are readable by `nobody`.
#[cfg(unix)]
fn read_only_state() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = home.path().join("state");
    {
        let mut j = Journal::open(state.join("journal.sqlite")).unwrap();
        let job = j.begin_job(&NewJob { user: UserRef { upn: Some("ada@contoso.example".into()), object_id: None }, ..NewJob::new(JobMode::Batch) }).unwrap();
        j.transition(job, Transition::to(JobState::Inspected)).unwrap();
        j.begin_job(&NewJob { user: UserRef { upn: Some("bob@contoso.example".into()), object_id: None }, ..NewJob::new(JobMode::Enroll) }).unwrap();
    }
    assert!(!state.join("journal.sqlite-wal").exists(), "the journal was closed cleanly");
    chmod_tree(&state, 0o555, 0o444);
    (home, state)
}

#[cfg(unix)]
#[test]
fn report_reads_a_read_only_state_directory_and_writes_nothing() {
    let (home, state) = read_only_state();
    let before: Vec<_> = std::fs::read_dir(&state).unwrap().flatten().map(|e| e.file_name()).collect();
    let out = keystation_unprivileged(&["--state-dir", state.to_str().unwrap(), "--json", "report"], home.path());
    assert!(out.status.success(), "report on a read-only state dir: {}{}", stdout(&out), stderr(&out));
    let rows: Vec<serde_json::Value> = crate::json_output::result(&out.stdout).as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["state"], "inspected");
    let after: Vec<_> = std::fs::read_dir(&state).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(before, after, "nothing was created in the state directory");
    chmod_tree(&state, 0o700, 0o600);
}

#[cfg(unix)]
#[test]
fn a_writing_command_on_a_read_only_state_directory_says_what_to_fix() {
    let (home, state) = read_only_state();
    let config = write_file(
        home.path(),
        "k.toml",
        "[tenant]\nid = \"contoso.example\"\nclient_id = \"00000000-0000-0000-0000-000000000001\"\n[tenant.sign_in]\nmethod = \"device-code\"\n",
    );
    let out = keystation_unprivileged(&["--config", config.to_str().unwrap(), "--state-dir", state.to_str().unwrap(), "--virtual", "1", "kiosk"], home.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot write in the state directory") && err.contains("make it writable"), "{err}");
    assert!(err.contains("report"), "it says reading still works: {err}");
    chmod_tree(&state, 0o700, 0o600);
}

#[test]
fn a_file_given_as_the_state_directory_is_named_as_such() {
    let home = tempfile::tempdir().unwrap();
    let file = write_file(home.path(), "not-a-dir", "x");
    let config = write_file(
        home.path(),
        "k.toml",
        "[tenant]\nid = \"contoso.example\"\nclient_id = \"00000000-0000-0000-0000-000000000001\"\n[tenant.sign_in]\nmethod = \"device-code\"\n",
    );
    for args in [vec!["--virtual", "2", "batch", "users.csv"], vec!["--virtual", "1", "enroll", "--user", "ada@contoso.example"], vec!["kiosk"]] {
        let mut all = vec!["--config", config.to_str().unwrap(), "--state-dir", file.to_str().unwrap()];
        all.extend(args.iter().copied());
        let out = crate::common::keystation(&all, home.path(), &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is not a directory (it is a file)"), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("HID"), "{args:?}: {}", stderr(&out));
    }
}
