//! Where the CLI writes, and how: standard output that survives a closed pipe, colour
//! only on a terminal.
//!
//! * **Inert text.** Everything printed is made [`inert_lines`](crate::text::inert_lines)
//!   first (untrusted text cannot drive the terminal); only [`out_control`] writes a
//!   control sequence, and only a constant one.
//! * **Closed pipes.** `keystation report | head -1` closes standard output early. Rust's
//!   `println!` panics then (exit 101) and `write!` returns `BrokenPipe`. Every write of
//!   the CLI to standard output goes through `outln!` (`cli/mod.rs`), [`out_line`],
//!   [`out_text`] or [`Stdout`] instead: the first failed write marks standard output
//!   closed, later output is dropped, and the command finishes what it was doing (a
//!   station command never leaves a key half done because nobody reads its output) and
//!   exits with its usual code. Listing commands (`keys watch`) ask [`stdout_closed`] and
//!   stop early.
//! * **Colour.** [`colour_on_stderr`] / [`colour_on_stdout`]: only on a terminal, never
//!   with `NO_COLOR` set (any non-empty value, <https://no-color.org>) or `TERM=dumb`.
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// True once a write to standard output failed (the reader went away).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

fn note_failure(e: &std::io::Error) {
    // A broken pipe is the common case; any other failure to write standard output
    // (a full disk behind a redirect) ends output the same way rather than panicking.
    if e.kind() != std::io::ErrorKind::Interrupted {
        STDOUT_CLOSED.store(true, Ordering::SeqCst);
    }
}

/// Write text to standard output, best effort: made inert first, dropped once the
/// reader has gone (see the module docs).
fn write_stdout(text: &str, newline: bool) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = write_inert(&mut out, text, newline) {
        note_failure(&e);
    }
}

/// Write a line to standard output, best effort. Like every output function here, the
/// text is made [`inert_lines`](crate::text::inert_lines) first: no control character
/// from untrusted text (a UPN, a Graph message) reaches the terminal.
pub fn out_line(text: &str) {
    write_stdout(text, true);
}

/// Write text (already ending in a newline, or not) to standard output, best effort.
pub fn out_text(text: &str) {
    write_stdout(text, false);
}

/// Write a line to standard error, best effort (a closed standard error is no reason
/// to stop either).
pub fn err_line(text: &str) {
    let _ = write_inert(&mut std::io::stderr().lock(), text, true);
}

/// Write text without a newline (a prompt) to standard error, best effort.
pub fn err_text(text: &str) {
    let _ = write_inert(&mut std::io::stderr().lock(), text, false);
}

/// Write a line to the controlling terminal (`/dev/tty`), made inert like the rest.
/// `Err` when there is no controlling terminal.
pub fn tty_line(text: &str) -> std::io::Result<()> {
    let mut tty = std::fs::OpenOptions::new().write(true).open("/dev/tty")?;
    write_inert(&mut tty, text, true)
}

/// Write one of keystation's own terminal control sequences (the kiosk's clear-screen)
/// to standard output: the only raw control output, so only a constant is accepted.
pub fn out_control(sequence: &'static str) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(sequence.as_bytes()).and_then(|_| out.flush()) {
        note_failure(&e);
    }
}

fn write_inert(out: &mut dyn Write, text: &str, newline: bool) -> std::io::Result<()> {
    let safe = crate::text::inert_lines(text);
    let mut result = out.write_all(safe.as_bytes());
    if newline && result.is_ok() {
        result = out.write_all(b"\n");
    }
    let result = result.and_then(|_| out.flush());
    // Slips (PINs, TAPs) pass through here: an escaped copy is wiped like the original.
    if let std::borrow::Cow::Owned(copy) = safe {
        drop(zeroize::Zeroizing::new(copy));
    }
    result
}

/// Standard output as an [`std::io::Write`] for writers that stream (CSV, JSON arrays):
/// once the reader has gone, writes succeed without going anywhere.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !stdout_closed()
            && let Err(e) = std::io::stdout().lock().write_all(buf)
        {
            note_failure(&e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !stdout_closed()
            && let Err(e) = std::io::stdout().lock().flush()
        {
            note_failure(&e);
        }
        Ok(())
    }
}

/// `NO_COLOR` set to anything non-empty, or `TERM=dumb`: no colour anywhere.
pub fn colour_forbidden() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) || std::env::var("TERM").is_ok_and(|t| t == "dumb")
}

/// Colour (and other ANSI styling) on standard error.
pub fn colour_on_stderr() -> bool {
    !colour_forbidden() && std::io::stderr().is_terminal()
}

/// Colour (and other ANSI styling) on standard output.
pub fn colour_on_stdout() -> bool {
    !colour_forbidden() && std::io::stdout().is_terminal()
}
