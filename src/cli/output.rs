//! Where the CLI writes, and how: standard output that survives a closed pipe, colour
//! only on a terminal.
//!
//! * **Closed pipes.** `keystation report | head -1` closes standard output early. Rust's
//!   `println!` panics then (exit 101) and `write!` returns `BrokenPipe`. Every write of
//!   the CLI to standard output goes through [`outln!`], [`out!`], [`out_line`],
//!   [`out_text`] or [`Stdout`] instead: the first failed write marks standard output
//!   closed, later output is dropped, and the command finishes what it was doing (a
//!   station command never leaves a key half done because nobody reads its output) and
//!   exits with its usual code. Listing commands (`keys watch`) ask [`stdout_closed`] and
//!   stop early.
//! * **Colour.** [`colour_on_stderr`] / [`colour_on_stdout`]: only on a terminal, never
//!   with `NO_COLOR` set (any non-empty value, <https://no-color.org>) or `TERM=dumb`.
use std::fmt;
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

/// Write formatted text to standard output, best effort (see the module docs).
pub fn write_stdout(args: fmt::Arguments<'_>) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        note_failure(&e);
    }
}

/// `println!` for the CLI: never panics on a closed pipe.
macro_rules! outln {
    () => { $crate::cli::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}
/// `print!` for the CLI: never panics on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_stdout(format_args!($($arg)*)) };
}
pub(crate) use {out, outln};

/// Write a line to standard output, best effort.
pub fn out_line(text: &str) {
    write_stdout(format_args!("{text}\n"));
}

/// Write text (already ending in a newline, or not) to standard output, best effort.
pub fn out_text(text: &str) {
    write_stdout(format_args!("{text}"));
}

/// Write a line to standard error, best effort (a closed standard error is no reason
/// to stop either).
pub fn err_line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
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
