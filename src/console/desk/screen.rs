//! What the desk page shows: the kiosk's screens ([`KioskView`]) turned into one small
//! state the page draws, with the rules a walk-up screen needs:
//!
//! * a **refusal stays**: a user Entra does not know, a user outside the policy, a name
//!   that is not a user name, no key in time, a job that did not finish — each stays on
//!   screen (what happened and what to do next, from the pipeline's `OutcomeError`)
//!   until the next person taps "Start over", even though the kiosk loop itself is
//!   already waiting for the next name;
//! * the **handover slip** is held here, rendered, until the page takes it (once) or the
//!   next step begins, whichever comes first; it never goes into the state the page
//!   polls or the live stream, only into the one response that takes it;
//! * "take the key out" is a banner over whatever is shown, until the key has left.
use crate::console::live::{now_ms, Live};
use crate::secret::SecretString;
use crate::station::handover::HandoverSlip;
use crate::station::kiosk::{KioskDisplay, KioskView};
use serde::Serialize;
use std::sync::Mutex;

/// What the kiosk loop is waiting for from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expect {
    /// Nothing: it is working, or waiting for a key.
    Nothing,
    /// A user name.
    User,
    /// A PIN (the prompt says which: the new one, the same again, the key's current one).
    Pin {
        /// The prompt.
        prompt: String,
    },
}

/// The page's state (never a PIN: see [`DeskScreen::take_slip`]).
#[derive(Debug, Clone, Serialize)]
pub struct DeskSnapshot {
    /// The desk is open (the kiosk loop runs).
    pub open: bool,
    /// Changes so far (the page ignores older states).
    pub seq: u64,
    /// The current screen.
    pub view: Option<KioskView>,
    /// A refusal that stays until "Start over".
    pub sticky: Option<KioskView>,
    /// The key must be taken out now.
    pub take_key_out: bool,
    /// A key is plugged in but no name was given yet.
    pub key_before_user: bool,
    /// More than one key is plugged in (how many).
    pub too_many_keys: Option<usize>,
    /// What the loop waits for.
    pub expecting: Expect,
    /// A handover slip is ready to be shown (once).
    pub slip_ready: bool,
    /// Users choose their own PIN here.
    pub pin_at_desk: bool,
    /// The operator exits configured: (PIN, exit sequence).
    pub exit_pin: bool,
    /// An exit sequence is configured.
    pub exit_sequence: bool,
    /// Why the desk could not run, when it could not.
    pub problem: Option<String>,
    /// When this state was made (ms since the epoch).
    pub at: f64,
}

/// A rendered slip waiting to be shown.
struct HeldSlip {
    user: String,
    text: SecretString,
}

struct Inner {
    snap: DeskSnapshot,
    slip: Option<HeldSlip>,
}

/// The desk's screen state; the kiosk loop's display.
pub struct DeskScreen {
    inner: Mutex<Inner>,
    live: Live,
}

impl DeskScreen {
    /// A closed desk; `exits` are the configured operator exits (PIN, sequence).
    pub fn new(exits: (bool, bool)) -> DeskScreen {
        let snap = DeskSnapshot {
            open: false,
            seq: 0,
            view: None,
            sticky: None,
            take_key_out: false,
            key_before_user: false,
            too_many_keys: None,
            expecting: Expect::Nothing,
            slip_ready: false,
            pin_at_desk: false,
            exit_pin: exits.0,
            exit_sequence: exits.1,
            problem: None,
            at: now_ms(),
        };
        DeskScreen { inner: Mutex::new(Inner { snap, slip: None }), live: Live::new() }
    }

    /// The live channel pages listen to.
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// The state now, as JSON.
    pub fn snapshot_json(&self) -> String {
        serde_json::to_string(&self.lock().snap).unwrap_or_default()
    }

    /// The state now.
    pub fn snapshot(&self) -> DeskSnapshot {
        self.lock().snap.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn change(&self, f: impl FnOnce(&mut Inner)) {
        let json = {
            let mut inner = self.lock();
            f(&mut inner);
            inner.snap.seq += 1;
            inner.snap.at = now_ms();
            serde_json::to_string(&inner.snap).unwrap_or_default()
        };
        self.live.send(json);
    }

    /// The desk opened or closed.
    pub fn set_open(&self, open: bool) {
        self.change(|i| {
            i.snap.open = open;
            if !open {
                i.slip = None;
                i.snap.slip_ready = false;
                i.snap.expecting = Expect::Nothing;
                i.snap.take_key_out = false;
            } else {
                i.snap.sticky = None;
                i.snap.view = None;
                i.snap.problem = None;
            }
        });
    }

    /// Why the desk cannot run (or `None` again).
    pub fn set_problem(&self, problem: Option<String>) {
        self.change(|i| i.snap.problem = problem);
    }

    /// What the loop waits for now.
    pub fn set_expecting(&self, e: Expect) {
        self.change(|i| i.snap.expecting = e);
    }

    /// "Start over": the refusal on screen goes away.
    pub fn start_over(&self) {
        self.change(|i| i.snap.sticky = None);
    }

    /// Show a refusal without asking the loop (a name the desk never passes on).
    pub fn refuse(&self, view: KioskView) {
        self.change(|i| i.snap.sticky = Some(view));
    }

    /// Whether a name may be taken now: the loop asks for one (or is about to) and no
    /// refusal is waiting for "Start over".
    pub fn accepts_user(&self) -> bool {
        let i = self.lock();
        i.snap.open && i.snap.sticky.is_none() && (i.snap.expecting == Expect::User || matches!(i.snap.view, Some(KioskView::AskUser)))
    }

    /// Whether a PIN may be taken now.
    pub fn accepts_pin(&self) -> bool {
        let i = self.lock();
        i.snap.open && (matches!(i.snap.expecting, Expect::Pin { .. }) || matches!(i.snap.view, Some(KioskView::ChoosePin { .. } | KioskView::CurrentPin { .. })))
    }

    /// The slip, once: the user it is for and its text. `None` when there is none (or it
    /// was already taken).
    pub fn take_slip(&self) -> Option<(String, SecretString)> {
        let mut taken = None;
        self.change(|i| {
            taken = i.slip.take().map(|s| (s.user, s.text));
            i.snap.slip_ready = false;
        });
        taken
    }
}

/// Screens that stay until "Start over".
fn is_refusal(view: &KioskView) -> bool {
    matches!(view, KioskView::BadUser { .. } | KioskView::UserRefused { .. } | KioskView::NoKey { .. } | KioskView::Result { ok: false, .. })
}

impl KioskDisplay for DeskScreen {
    fn show(&self, view: &KioskView) {
        self.change(|i| {
            let s = &mut i.snap;
            match view {
                KioskView::Ready { pin_at_desk, .. } => s.pin_at_desk = *pin_at_desk,
                KioskView::KeyBeforeUser { .. } => s.key_before_user = true,
                KioskView::OneKeyOnly { count } => s.too_many_keys = Some(*count),
                KioskView::RemoveKey { .. } => s.take_key_out = true,
                KioskView::Closed { .. } => {
                    s.open = false;
                    s.expecting = Expect::Nothing;
                }
                v if is_refusal(v) => {
                    s.sticky = Some(v.clone());
                    s.view = Some(v.clone());
                }
                v => {
                    // The next step: the slip of the person before is gone for good.
                    if !matches!(v, KioskView::Result { .. }) {
                        i.slip = None;
                        s.slip_ready = false;
                    }
                    if matches!(v, KioskView::AskUser) {
                        s.take_key_out = false;
                        s.too_many_keys = None;
                    } else {
                        s.key_before_user = false;
                    }
                    if matches!(v, KioskView::PlugKey { .. }) {
                        s.sticky = None;
                    }
                    s.view = Some(v.clone());
                }
            }
        });
    }

    fn slip(&self, user: &str, slip: HandoverSlip) {
        let text = slip.render();
        self.change(|i| {
            i.slip = Some(HeldSlip { user: user.to_string(), text });
            i.snap.slip_ready = true;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ok: bool) -> KioskView {
        KioskView::Result { user: "a@b.c".into(), ok, message: "m".into(), next_step: Some("n".into()), method_id: None }
    }

    #[test]
    fn a_refusal_stays_until_start_over() {
        let d = DeskScreen::new((true, false));
        d.set_open(true);
        d.show(&KioskView::AskUser);
        assert!(d.accepts_user());
        d.show(&KioskView::UserRefused { user: "x@y.z".into(), message: "no user".into(), next_step: Some("ask IT".into()) });
        d.show(&KioskView::AskUser);
        let s = d.snapshot();
        assert!(matches!(s.sticky, Some(KioskView::UserRefused { .. })));
        assert!(!d.accepts_user(), "a refusal waits for Start over");
        d.start_over();
        assert!(d.snapshot().sticky.is_none());
        assert!(d.accepts_user());
    }

    #[test]
    fn a_failed_job_stays_and_says_take_the_key_out() {
        let d = DeskScreen::new((false, false));
        d.set_open(true);
        d.show(&result(false));
        d.show(&KioskView::RemoveKey { user: "a@b.c".into(), ok: false });
        assert!(d.snapshot().take_key_out);
        d.show(&KioskView::AskUser);
        let s = d.snapshot();
        assert!(!s.take_key_out);
        assert!(matches!(s.sticky, Some(KioskView::Result { ok: false, .. })));
    }

    #[test]
    fn the_slip_is_given_once_and_dropped_at_the_next_step() {
        let d = DeskScreen::new((false, false));
        d.set_open(true);
        d.show(&result(true));
        let slip = |pin: &str| HandoverSlip {
            user: "a@b.c".into(),
            key_model: "Test Key".into(),
            key_serial: None,
            display_name: None,
            pin: Some(crate::secret::SecretString::new(pin)),
            force_change: false,
            tap: None,
            sealed_to: 0,
        };
        d.slip("a@b.c", slip("97531864"));
        assert!(d.snapshot().slip_ready);
        assert!(!d.snapshot_json().contains("97531864"), "the state never carries the PIN");
        let (user, text) = d.take_slip().unwrap();
        assert_eq!(user, "a@b.c");
        assert!(text.expose().contains("97531864"));
        assert!(d.take_slip().is_none(), "once");
        d.slip("a@b.c", slip("24681357"));
        d.show(&KioskView::RemoveKey { user: "a@b.c".into(), ok: true });
        assert!(d.snapshot().slip_ready, "still there while the key is in");
        d.show(&KioskView::AskUser);
        assert!(d.take_slip().is_none(), "gone at the next step");
    }
}
