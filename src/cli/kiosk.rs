//! `keystation kiosk`: the enrollment desk loop (`station::kiosk`) on this terminal, or
//! driven by standard input (scripts, barcode scanners without a terminal), with a
//! full-screen page per step on a terminal, plain lines otherwise, JSON lines with --json.
use crate::cli::batch::{check_via, key_sources, load_config, open_station, station_overrides, StationOpts};
use crate::cli::progress::{err_line, out_control, out_line, out_text, tty_line, OutputMode};
use crate::cli::{CliContext, CliError, Exit};
use crate::ceremony::webauthn::BoxFuture;
use crate::ceremony::RegistrationPath;
use crate::secret::SecretString;
use crate::station::handover::HandoverSlip;
use crate::station::kiosk::visitor::VirtualVisitors;
use crate::station::kiosk::{Kiosk, KioskDisplay, KioskEnd, KioskInput, KioskOptions, KioskView, LineInput};
use crate::station::pipeline::CancelToken;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

/// Arguments of `keystation kiosk`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Type or scan a user principal name and press Enter. Only the operator closes the desk: the configured\n\
kiosk.quit_sequence typed as the name, or a signal (SIGTERM, Ctrl-C); on a terminal Ctrl-D does nothing, a script's end of input closes it.\n\
A refusal stays on the screen until Enter or kiosk.hold_seconds (default 30); the service's raw answer goes to the log (-v).\n\
Standard input may be a script: one user name per line, and with pin.source = user-at-desk each PIN line twice.\n\
With --virtual N, a virtual key is plugged in whenever the kiosk asks for one (each of the N once).\n\
Guide: docs/operator-guide-kiosk.md")]
pub struct KioskArgs {
    /// Seconds to wait for a key after the user name before going back to the first screen.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub key_timeout: u64,
    #[command(flatten)]
    pub station: StationOpts,
    /// Virtual keys instead of USB keys.
    #[command(flatten)]
    pub source: crate::cli::VirtualKeyFlags,
}

/// Run `keystation kiosk`.
pub async fn run(args: KioskArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let config = load_config(ctx, station_overrides(&args.station))?;
    let _claim = ctx.claim_state_dir()?;
    let sources = key_sources(ctx)?;
    let station = open_station(ctx, config, Some(sources.clone())).await?;
    let via = args.station.via.map(RegistrationPath::from);
    check_via(&station, via)?;

    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mode = if ctx.json() { OutputMode::Json } else if terminal { OutputMode::Bars } else { OutputMode::Lines };
    let screen: Arc<dyn KioskDisplay> = Arc::new(Screen { mode });
    let display: Arc<dyn KioskDisplay> = match sources.hub() {
        Some(hub) => Arc::new(VirtualVisitors::new(hub.clone(), screen)),
        None => screen,
    };
    let input: Box<dyn KioskInput> = if terminal { Box::new(TerminalInput::new()) } else { Box::new(LineInput::new(BufReader::new(tokio::io::stdin()))) };
    let options = KioskOptions {
        key_timeout: Duration::from_secs(args.key_timeout.max(1)),
        touch_timeout: Duration::from_secs(args.station.touch_timeout.max(1)),
        via,
        quit_sequence: station.config().kiosk.quit_sequence.clone(),
        hold: Duration::from_secs(u64::from(station.config().kiosk.hold_seconds)),
        ..KioskOptions::default()
    };
    let cancel = CancelToken::new();
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            // Ctrl-C, or SIGTERM (`systemctl stop`): the operator closes the desk.
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                if let Ok(mut term) = signal(SignalKind::terminate()) {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                    cancel.cancel();
                    return;
                }
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let summary = Kiosk::new(station, sources, input, display, options).run(cancel).await.map_err(CliError::from)?;
    ctrl_c.abort();
    if ctx.json() {
        ctx.print_json(&summary)?;
    }
    Ok(match summary.end {
        KioskEnd::Quit | KioskEnd::EndOfInput => Exit::Ok,
        KioskEnd::Cancelled => Exit::Cancelled,
    })
}

/// Standard input on a terminal: lines for user names, no-echo prompts for PINs.
struct TerminalInput {
    lines: Lines<BufReader<Stdin>>,
}

impl TerminalInput {
    fn new() -> TerminalInput {
        TerminalInput { lines: BufReader::new(tokio::io::stdin()).lines() }
    }
}

impl KioskInput for TerminalInput {
    fn interactive(&self) -> bool {
        true
    }

    fn next_line(&mut self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.lines.next_line().await.ok().flatten() })
    }

    fn secret<'a>(&'a mut self, prompt: &'a str) -> BoxFuture<'a, Option<SecretString>> {
        let prompt = format!("  {prompt}: ");
        Box::pin(async move {
            // rpassword reads the terminal with echo off; it blocks, so off the runtime.
            let read = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt).map(SecretString::new)).await;
            read.ok().and_then(Result::ok)
        })
    }
}

/// Renders kiosk screens: a full page per screen on a terminal, lines, or JSON lines.
struct Screen {
    mode: OutputMode,
}

const CLEAR: &str = "\x1b[2J\x1b[H";
const RULE: &str = "────────────────────────────────────────────────────────────────";

impl Screen {
    fn page(&self, title: &str, body: &[String]) {
        let mut s = String::new();
        if self.mode == OutputMode::Bars {
            out_control(CLEAR);
            s.push_str(&format!("  keystation · security key desk\n  {RULE}\n\n"));
            s.push_str(&format!("  {title}\n\n"));
            for line in body {
                s.push_str(&format!("  {line}\n"));
            }
        } else {
            s.push_str(&format!("kiosk: {title}"));
            for line in body {
                s.push_str(&format!("\nkiosk:   {line}"));
            }
            s.push('\n');
        }
        out_text(&s);
    }

    fn line(&self, text: &str) {
        if self.mode == OutputMode::Bars {
            out_line(&format!("  {text}"));
        } else {
            out_line(&format!("kiosk: {text}"));
        }
    }
}

impl KioskDisplay for Screen {
    fn show(&self, view: &KioskView) {
        if self.mode == OutputMode::Json {
            crate::cli::json::emit_event("kiosk", view);
            return;
        }
        match view {
            KioskView::Ready { tenant, pin_at_desk } => {
                let pin = if *pin_at_desk { "users choose their own PIN here" } else { "each key gets a random PIN, shown once" };
                self.line(&format!("ready: tenant {tenant}; {pin}"));
            }
            KioskView::AskUser => {
                self.page("Scan your badge or type your user name, then press Enter.", &["(for example alice@contoso.com)".into()]);
                if self.mode == OutputMode::Bars {
                    out_text("  > ");
                }
            }
            KioskView::BadUser { message, .. } => self.line(&format!("{message}. Try again.")),
            KioskView::UserRefused { user, message, next_step } => {
                self.line(&format!("{user}: {message}"));
                if let Some(n) = next_step {
                    self.line(n);
                }
            }
            KioskView::KeyBeforeUser { .. } => self.line("A key is plugged in. First type or scan the user name; the key is used for that user."),
            KioskView::PlugKey { user } => self.page(&format!("Hello {user}: plug in your security key."), &["Use a blank key from the tray. Only one key at a time.".into()]),
            KioskView::OneKeyOnly { count } => self.line(&format!("{count} keys are plugged in: leave only the one for this user.")),
            KioskView::NoKey { user, waited_secs } => self.line(&format!("No key was plugged in for {user} within {waited_secs} s; starting over.")),
            KioskView::Working { text, .. } => self.line(&format!("… {text}")),
            KioskView::TouchKey { .. } => self.line(">>> Touch the key now (the metal contact or the blinking light) <<<"),
            KioskView::ReplugKey { reason, .. } => self.line(&format!(">>> Unplug the key and plug it in again: {reason} <<<")),
            KioskView::ChoosePin { rules, problem, .. } => {
                if let Some(p) = problem {
                    self.line(p);
                }
                self.line(&format!("Choose your PIN: {rules}."));
            }
            KioskView::CurrentPin { reason, retries_left, .. } => {
                let left = retries_left.map(|n| format!(" ({n} attempts left before the key locks)")).unwrap_or_default();
                self.line(&format!("Type the key's current PIN{left}: {reason}"));
            }
            KioskView::Result { ok, message, next_step, .. } => {
                let head = if *ok { "Done." } else { "Not done." };
                self.line(&format!("{head} {message}"));
                if let Some(n) = next_step {
                    self.line(n);
                }
            }
            KioskView::RemoveKey { ok, .. } => {
                let t = if *ok { "Take your key out now. Next person, please." } else { "Take the key out now." };
                self.line(&format!(">>> {t} <<<"));
            }
            KioskView::Closed { served, refused, done, failed } => self.line(&format!("closed: {served} served ({done} key(s) ready, {failed} not ready), {refused} refused before a key")),
            KioskView::Hold { seconds } => self.line(&format!("(press Enter to go on; the next screen comes by itself in {seconds} s)")),
        }
    }

    fn slip(&self, user: &str, slip: HandoverSlip) {
        let rendered = slip.render();
        // On the controlling terminal when there is one (never into a redirected file).
        let shown_on = if tty_line(rendered.expose()).is_ok() {
            "terminal"
        } else if self.mode == OutputMode::Json {
            err_line(rendered.expose());
            "stderr"
        } else {
            out_line(rendered.expose());
            "stdout"
        };
        if self.mode == OutputMode::Json {
            // Where the slip went, never what it says.
            crate::cli::json::emit_event("kiosk", &serde_json::json!({"screen": "slip", "user": user, "shown_on": shown_on}));
        }
    }
}
