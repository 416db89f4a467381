//! `keystation batch`: the progress bar counts finished users only (on a real terminal:
//! a pseudo-terminal made here), and `--skip-existing` leaves out users who already
//! have a passkey.
use super::support::*;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};

/// Run `cmd` with standard output and error on a fresh pseudo-terminal; everything the
/// terminal showed, escape sequences removed.
fn on_a_terminal(mut cmd: std::process::Command) -> (Option<i32>, String) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 40, ws_col: 160, ws_xpixel: 0, ws_ypixel: 0 };
    assert_eq!(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) }, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(std::process::Stdio::null()).stdout(slave.try_clone().unwrap()).stderr(slave);
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // the parent's copies of the terminal side
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the child (the last holder of the terminal) has gone.
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let status = child.wait().unwrap();
    let raw = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    (status.code(), strip_ansi(&raw))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_bar_counts_only_finished_users() {
    let w = World::new().await;
    let csv = w.path("three.csv");
    std::fs::write(&csv, "upn\nbob@contoso.test\ndave@contoso.test\nconor.o'brien@contoso.test\n").unwrap();
    // One virtual key for three users: one is done, two are never started.
    let cmd = w.command(Some(1), None, &["batch", csv.to_str().unwrap()], &[("TERM", "xterm")]).into_std();
    let (code, screen) = tokio::task::spawn_blocking(move || on_a_terminal(cmd)).await.unwrap();
    assert_eq!(code, Some(7), "{screen}");
    assert!(screen.contains("not started"), "{screen}");
    let counts: Vec<&str> = screen.match_indices("/3 ").map(|(i, _)| screen[..i].rsplit(|c: char| !c.is_ascii_digit()).next().unwrap_or("")).collect();
    assert!(!counts.is_empty(), "no progress bar on the terminal:\n{screen}");
    assert_eq!(counts.last(), Some(&"1"), "the bar ends at the finished users (1/3), not the total:\n{screen}");
    assert!(!counts.contains(&"3"), "the bar never claims 3/3:\n{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_existing_leaves_out_users_who_have_a_passkey() {
    let w = World::new().await;
    let csv = w.path("two.csv");
    // carol has a security key in the simulator's tenant already; dave has none.
    std::fs::write(&csv, "upn\ncarol@contoso.test\ndave@contoso.test\n").unwrap();
    let out = w.run(Some(1), None, &["--json", "batch", "--skip-existing", csv.to_str().unwrap()], &[], "").await;
    let report = crate::json_output::result(&out.stdout);
    let row = |upn: &str| report["rows"].as_array().unwrap().iter().find(|r| r["upn"] == upn).cloned().unwrap();
    assert_eq!(row("carol@contoso.test")["status"], "already_done", "{report}");
    assert!(row("carol@contoso.test")["reason"].as_str().unwrap().contains("--skip-existing"), "{report}");
    assert_eq!(row("dave@contoso.test")["status"], "done", "{report}");
    // Without the option carol gets another key.
    let csv = w.path("carol.csv");
    std::fs::write(&csv, "upn\ncarol@contoso.test\n").unwrap();
    let out = w.run(Some(1), None, &["--json", "batch", csv.to_str().unwrap()], &[], "").await;
    assert_eq!(crate::json_output::result(&out.stdout)["rows"][0]["status"], "done", "{}", show(&out));
}
