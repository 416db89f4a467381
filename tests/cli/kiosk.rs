//! `keystation kiosk` on a real screen (a pseudo-terminal made here, as the kiosk
//! service runs it): a refusal stays until Enter, in plain words; `quit` and Ctrl-D do
//! not close the desk, the operator's `kiosk.quit_sequence` or SIGTERM does; the closing
//! line counts served and refused people apart.
use super::support::*;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const QUIT: &str = "IT-close-7731";

/// A kiosk process whose standard input, output and error are one pseudo-terminal.
struct Desk {
    child: std::process::Child,
    keyboard: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Desk {
    fn open(mut cmd: std::process::Command) -> Desk {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize { ws_row: 40, ws_col: 160, ws_xpixel: 0, ws_ypixel: 0 };
        assert_eq!(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) }, 0, "openpty");
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        cmd.stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave);
        let child = cmd.spawn().unwrap();
        drop(cmd); // the parent's copies of the terminal side
        let keyboard = std::fs::File::from(master.try_clone().unwrap());
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(master);
            let mut buf = [0u8; 4096];
            // EIO once the child (the last holder of the terminal) has gone.
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Desk { child, keyboard, screen }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).replace('\r', "")
    }

    fn count(&self, needle: &str) -> usize {
        self.screen().matches(needle).count()
    }

    /// Wait (generously) until `needle` has been shown `n` times.
    fn wait_for(&self, needle: &str, n: usize) {
        let start = Instant::now();
        while self.count(needle) < n {
            assert!(start.elapsed() < Duration::from_secs(90), "waited for {n}× {needle:?}; the screen:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&mut self, s: &str) {
        self.keyboard.write_all(s.as_bytes()).unwrap();
        self.keyboard.flush().unwrap();
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the desk did not close; the screen:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ASK: &str = "Scan your badge";
const HOLD: &str = "press Enter to go on";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_desk_a_refusal_stays_until_enter_and_only_the_operator_closes_it() {
    let w = World::new().await;
    let mut config = std::fs::read_to_string(w.config()).unwrap();
    config.push_str(&format!("[kiosk]\nquit_sequence = \"{QUIT}\"\nhold_seconds = 60\n"));
    std::fs::write(w.config(), config).unwrap();
    let cmd = w.command(Some(1), None, &["kiosk"], &[("TERM", "xterm")]).into_std();
    tokio::task::spawn_blocking(move || {
        let mut desk = Desk::open(cmd);
        desk.wait_for(ASK, 1);
        desk.type_line("nobody@contoso.test\n");
        desk.wait_for(HOLD, 1);
        // The refusal stays: no first screen comes back while nobody presses Enter.
        std::thread::sleep(Duration::from_secs(2));
        let shown = desk.screen();
        assert_eq!(desk.count(ASK), 1, "the refusal was replaced without Enter:\n{shown}");
        assert!(shown.contains("no user 'nobody@contoso.test' in this tenant"), "plain words:\n{shown}");
        for raw in ["HTTP 404", "Request_ResourceNotFound", "request-id"] {
            assert!(!shown.contains(raw), "raw Graph text {raw:?} at the desk:\n{shown}");
        }
        // Enter: the next person's screen.
        desk.type_line("\n");
        desk.wait_for(ASK, 2);
        // `quit` is not a user name and closes nothing; neither does Ctrl-D.
        desk.type_line("quit\n");
        desk.wait_for(ASK, 3);
        desk.type_line("\x04");
        std::thread::sleep(Duration::from_secs(1));
        assert!(desk.child.try_wait().unwrap().is_none(), "Ctrl-D closed the desk:\n{}", desk.screen());
        // The operator's sequence closes it, with the refused person counted apart.
        desk.type_line(&format!("{QUIT}\n"));
        assert_eq!(desk.wait_exit(), Some(0), "{}", desk.screen());
        let shown = desk.screen();
        assert!(shown.contains("closed: 0 served (0 key(s) ready, 0 not ready), 1 refused before a key"), "{shown}");
    })
    .await
    .unwrap();

    // SIGTERM (`systemctl stop`) closes the desk too: exit 10 (cancelled by the operator).
    let cmd = w.command(Some(1), None, &["kiosk"], &[("TERM", "xterm")]).into_std();
    tokio::task::spawn_blocking(move || {
        let mut desk = Desk::open(cmd);
        desk.wait_for(ASK, 1);
        assert_eq!(unsafe { libc::kill(desk.child.id() as i32, libc::SIGTERM) }, 0);
        assert_eq!(desk.wait_exit(), Some(10), "{}", desk.screen());
        assert!(desk.screen().contains("closed: 0 served"), "{}", desk.screen());
    })
    .await
    .unwrap();
}
