//! Who may use the console: the launch token, the operator password, sessions and the
//! desk lock.
//!
//! * The **launch token** (256 random bits) is made when the console starts and is only
//!   ever handed to the operator inside a link's fragment (`…/#token=…`), which a
//!   browser never sends to a server: it cannot end up in an access log, a proxy or a
//!   `Referer`. The page's script posts it once to `/api/session` and replaces the
//!   address, so it leaves the browser's history too.
//! * A **session** is a fresh random id in an `HttpOnly`, `SameSite=Strict` cookie that
//!   lives as long as the browser (no expiry date) and, in the console's memory, at most
//!   [`SessionLimits::idle`] without a request and [`SessionLimits::lifetime`] in all
//!   (a screen locked to the desk waits for people by design: only the lifetime ends
//!   it). An ended session is removed at once (by the request that finds it ended, or by
//!   [`Auth::sweep`], which the server runs periodically) and its live streams end; a
//!   short, bounded record of why it ended lets the next request say so in plain words.
//!   Each session has its own CSRF token, which the page keeps in memory and sends as
//!   `X-CSRF-Token` with every state-changing request.
//! * Sessions guard the pages only: the desk and a batch belong to the console, not to
//!   the browser that started them, so a session that ends cancels no job.
//! * A session opened on the desk is **locked to the desk**: it reaches the desk's page
//!   and actions only, until the operator's PIN, the exit sequence or the launch link
//!   unlocks it.
//! * Secrets are compared in constant time (on their SHA-256 digests), and wrong guesses
//!   are slowed down: after [`MAX_FAILURES`] in a row, every guess is refused for
//!   [`LOCKOUT`].
use crate::secret::SecretString;
use crate::station::config::{DEFAULT_SESSION_IDLE_SECONDS, DEFAULT_SESSION_LIFETIME_SECONDS};
use crate::station::pipeline::CancelToken;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong secrets in a row before guesses are refused for a while.
pub const MAX_FAILURES: u32 = 5;
/// How long guesses are refused after [`MAX_FAILURES`].
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// Sessions kept at most (the oldest idle one is dropped beyond this).
const MAX_SESSIONS: usize = 256;
/// Records of ended sessions kept at most (for the plain message to the browser that
/// comes back with an ended session's cookie); the oldest go first.
const MAX_ENDED: usize = 4 * MAX_SESSIONS;

/// How long a session may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Without a request for this long, a session ends (not a screen locked to the desk).
    pub idle: Duration,
    /// After signing in, a session ends after this long, however busy.
    pub lifetime: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(DEFAULT_SESSION_IDLE_SECONDS.into()),
            lifetime: Duration::from_secs(DEFAULT_SESSION_LIFETIME_SECONDS.into()),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// No request for this long.
    Idle(Duration),
    /// It reached the longest a session lasts.
    Lifetime(Duration),
    /// Signed out.
    SignedOut,
}

impl Ended {
    /// In plain words, with what to do.
    pub fn message(&self) -> String {
        match self {
            Ended::Idle(d) => format!("Your session ended after {} without activity; sign in again.", span(*d)),
            Ended::Lifetime(d) => format!("Your session ended: a session lasts at most {}; sign in again.", span(*d)),
            Ended::SignedOut => "You signed out; sign in again.".into(),
        }
    }

    /// A short name for scripts (`idle`, `lifetime`, `signed_out`).
    pub fn kind(&self) -> &'static str {
        match self {
            Ended::Idle(_) => "idle",
            Ended::Lifetime(_) => "lifetime",
            Ended::SignedOut => "signed_out",
        }
    }
}

/// Why a request has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// No cookie, or one this console never made (or has forgotten).
    Missing,
    /// The session ended.
    Ended(Ended),
}

/// `15 minutes`, `12 hours`, `90 seconds`.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 3600 && s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s >= 60 && s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every page.
    Operator,
    /// The desk only (a screen people walk up to).
    Desk,
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Sent back as `X-CSRF-Token` on every state-changing request.
    pub csrf: String,
    /// What it may do.
    pub role: Role,
    created: Instant,
    last_seen: Instant,
    /// Cancelled when the session ends (its live streams stop).
    ended: CancelToken,
}

/// The session a request belongs to (put into the request by the guard).
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session id (the cookie's value).
    pub id: String,
    /// Its role when the request arrived.
    pub role: Role,
    /// Its CSRF token.
    pub csrf: String,
    /// Cancelled when the session ends (or the console stops): live streams end with it.
    pub ended: CancelToken,
}

/// Why a secret was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong.
    Wrong,
    /// Too many wrong guesses; try again after this many seconds.
    LockedOut(u64),
    /// Nothing is configured to check against.
    NotConfigured,
}

impl Refusal {
    /// In words, for the page.
    pub fn message(&self, what: &str) -> String {
        match self {
            Refusal::Wrong => format!("That {what} is not right."),
            Refusal::LockedOut(s) => format!("Too many wrong attempts: wait {s} seconds, then try again."),
            Refusal::NotConfigured => format!("No {what} is configured for this console."),
        }
    }
}

#[derive(Default)]
struct Throttle {
    failures: u32,
    locked_until: Option<Instant>,
}

/// The console's secrets and sessions.
pub struct Auth {
    launch_token: SecretString,
    password: Option<SecretString>,
    operator_pin: Option<SecretString>,
    exit_sequence: Option<SecretString>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Why recent sessions ended, by the SHA-256 of their id (never the id itself).
    ended: Mutex<HashMap<[u8; 32], (Ended, Instant)>>,
    limits: SessionLimits,
    /// Guesses at the sign-in (token, password) and at the desk (operator PIN) are
    /// counted apart: someone at the desk cannot lock the operator out of signing in.
    sign_in_throttle: Mutex<Throttle>,
    desk_throttle: Mutex<Throttle>,
    cookie_name: String,
    secure_cookie: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("cookie", &self.cookie_name).field("sessions", &lock(&self.sessions).len()).finish_non_exhaustive()
    }
}

/// The operator's secrets, read from their files.
#[derive(Default)]
pub struct Secrets {
    /// Signs an operator in without the launch link.
    pub password: Option<SecretString>,
    /// Unlocks the desk.
    pub operator_pin: Option<SecretString>,
    /// Unlocks the desk when typed or scanned into the name field.
    pub exit_sequence: Option<SecretString>,
}

impl Auth {
    /// Fresh launch token; the session cookie is named after the port so that two
    /// consoles on one machine do not overwrite each other's sessions. Sessions last as
    /// `limits` say.
    pub fn new(secrets: Secrets, port: u16, secure_cookie: bool, limits: SessionLimits) -> Auth {
        Auth {
            launch_token: SecretString::new(random_token()),
            password: secrets.password,
            operator_pin: secrets.operator_pin,
            exit_sequence: secrets.exit_sequence,
            sessions: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            limits,
            sign_in_throttle: Mutex::new(Throttle::default()),
            desk_throttle: Mutex::new(Throttle::default()),
            cookie_name: format!("keystation_session_{port}"),
            secure_cookie,
        }
    }

    /// The launch token (for the link keystation prints or opens; never log it).
    pub fn launch_token(&self) -> &SecretString {
        &self.launch_token
    }

    /// Whether an operator password is configured.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Which desk exits are configured: (operator PIN, exit sequence).
    pub fn desk_exits(&self) -> (bool, bool) {
        (self.operator_pin.is_some(), self.exit_sequence.is_some())
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Check the launch token or the password; on success a new operator session.
    pub fn sign_in(&self, token: Option<&str>, password: Option<&str>) -> Result<(String, Session), Refusal> {
        let ok = match (token, password) {
            (Some(t), _) => check(&self.sign_in_throttle, Some(&self.launch_token), t)?,
            (None, Some(p)) => check(&self.sign_in_throttle, self.password.as_ref(), p)?,
            (None, None) => return Err(Refusal::Wrong),
        };
        if !ok {
            return Err(Refusal::Wrong);
        }
        Ok(self.open_session(Role::Operator))
    }

    /// Whether `guess` is the operator's PIN (throttled).
    pub fn check_operator_pin(&self, guess: &str) -> Result<(), Refusal> {
        if check(&self.desk_throttle, self.operator_pin.as_ref(), guess)? { Ok(()) } else { Err(Refusal::Wrong) }
    }

    /// Whether `text` (typed at the desk) is the exit sequence. Not throttled and not
    /// counted: every name typed at the desk passes through here.
    pub fn is_exit_sequence(&self, text: &str) -> bool {
        self.exit_sequence.as_ref().is_some_and(|s| same_secret(s.expose(), text))
    }

    fn open_session(&self, role: Role) -> (String, Session) {
        self.sweep();
        let id = random_token();
        let now = Instant::now();
        let session = Session { csrf: random_token(), role, created: now, last_seen: now, ended: CancelToken::new() };
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone())
            && let Some(s) = sessions.remove(&oldest)
        {
            s.ended.cancel();
        }
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The session named by a request's cookie header (and mark it used), or why there
    /// is none. A session found ended is removed here.
    pub fn session_from_cookies(&self, cookie_header: Option<&str>) -> Result<SessionInfo, NoSession> {
        let id = cookie_header.and_then(|h| cookie_value(h, &self.cookie_name)).ok_or(NoSession::Missing)?;
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let Some(key) = sessions.keys().find(|k| same_secret(k, id)).cloned() else {
            drop(sessions);
            return Err(self.why_ended(id).map_or(NoSession::Missing, NoSession::Ended));
        };
        let s = sessions.get_mut(&key).ok_or(NoSession::Missing)?;
        if let Some(why) = self.limits.ended(s, now) {
            if let Some(s) = sessions.remove(&key) {
                drop(sessions);
                self.bury(&key, why, &s);
            }
            return Err(NoSession::Ended(why));
        }
        s.last_seen = now;
        Ok(SessionInfo { id: key, role: s.role, csrf: s.csrf.clone(), ended: s.ended.clone() })
    }

    /// Remove every session that has ended (their live streams end too) and forget old
    /// records of ended ones; how many sessions were removed.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let gone: Vec<(String, Session, Ended)> = {
            let mut sessions = lock(&self.sessions);
            let ids: Vec<(String, Ended)> = sessions.iter().filter_map(|(k, s)| self.limits.ended(s, now).map(|why| (k.clone(), why))).collect();
            ids.into_iter().filter_map(|(k, why)| sessions.remove(&k).map(|s| (k, s, why))).collect()
        };
        for (id, s, why) in &gone {
            self.bury(id, *why, s);
        }
        // A record outlives its session by at most a lifetime: after that, the browser
        // coming back with its cookie is just "not signed in".
        lock(&self.ended).retain(|_, (_, at)| now.duration_since(*at) < self.limits.lifetime);
        gone.len()
    }

    /// How often [`Auth::sweep`] should run: often enough that an ended session does
    /// not linger more than a quarter of its shortest limit (at most 30 s).
    pub fn sweep_interval(&self) -> Duration {
        (self.limits.idle.min(self.limits.lifetime) / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// The console stops: every session's live streams end (the sessions stay, so that
    /// requests still in flight are answered as before).
    pub fn end_streams(&self) {
        for s in lock(&self.sessions).values() {
            s.ended.cancel();
        }
    }

    /// Sessions kept in memory now.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// How long sessions last.
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// End a removed session: its streams stop, and why is remembered (bounded).
    fn bury(&self, id: &str, why: Ended, session: &Session) {
        session.ended.cancel();
        match why {
            Ended::SignedOut => tracing::info!("a console session signed out"),
            other => tracing::info!(reason = other.kind(), "a console session ended"),
        }
        let mut ended = lock(&self.ended);
        if ended.len() >= MAX_ENDED
            && let Some(oldest) = ended.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
        {
            ended.remove(&oldest);
        }
        ended.insert(Sha256::digest(id.as_bytes()).into(), (why, Instant::now()));
    }

    fn why_ended(&self, id: &str) -> Option<Ended> {
        let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        lock(&self.ended).get(&key).map(|(why, _)| *why)
    }

    /// Change a session's role (desk lock / unlock).
    pub fn set_role(&self, id: &str, role: Role) {
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            s.role = role;
        }
    }

    /// End a session (sign out): removed here and now, its live streams end.
    pub fn close_session(&self, id: &str) {
        let removed = lock(&self.sessions).remove(id);
        if let Some(s) = removed {
            self.bury(id, Ended::SignedOut, &s);
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn cookie_for(&self, id: &str) -> String {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        format!("{}={id}; Path=/; HttpOnly; SameSite=Strict{secure}", self.cookie_name)
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clearing_cookie(&self) -> String {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", self.cookie_name)
    }
}

impl SessionLimits {
    /// Whether `s` has ended at `now`, and why.
    fn ended(&self, s: &Session, now: Instant) -> Option<Ended> {
        if now.duration_since(s.created) >= self.lifetime {
            Some(Ended::Lifetime(self.lifetime))
        } else if s.role != Role::Desk && now.duration_since(s.last_seen) >= self.idle {
            Some(Ended::Idle(self.idle))
        } else {
            None
        }
    }
}

/// Check a guess against a secret, counting wrong guesses in `throttle`.
fn check(throttle: &Mutex<Throttle>, expected: Option<&SecretString>, guess: &str) -> Result<bool, Refusal> {
    let Some(expected) = expected else { return Err(Refusal::NotConfigured) };
    let mut t = lock(throttle);
    if let Some(until) = t.locked_until {
        let now = Instant::now();
        if now < until {
            return Err(Refusal::LockedOut((until - now).as_secs().max(1)));
        }
        t.locked_until = None;
    }
    if same_secret(expected.expose(), guess) {
        t.failures = 0;
        Ok(true)
    } else {
        t.failures += 1;
        if t.failures >= MAX_FAILURES {
            t.failures = 0;
            t.locked_until = Some(Instant::now() + LOCKOUT);
        }
        Ok(false)
    }
}

/// 32 random bytes from the OS, base64url without padding.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Equal secrets, compared in time that does not depend on where they differ (both are
/// hashed first, so lengths leak nothing either).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// The value of cookie `name` in a `Cookie:` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        auth_with(SessionLimits::default())
    }

    fn auth_with(limits: SessionLimits) -> Auth {
        let secrets = Secrets { password: Some("horse battery".into()), operator_pin: Some("4711".into()), exit_sequence: Some("#exit-99".into()) };
        Auth::new(secrets, 8470, false, limits)
    }

    #[test]
    fn the_launch_token_or_the_password_open_an_operator_session() {
        let a = auth();
        let token = a.launch_token().expose().to_string();
        assert_eq!(token.len(), 43);
        let (id, s) = a.sign_in(Some(&token), None).unwrap();
        assert_eq!(s.role, Role::Operator);
        let cookie = format!("other=1; {}={id}", a.cookie_name());
        let info = a.session_from_cookies(Some(&cookie)).unwrap();
        assert_eq!((info.id.as_str(), info.csrf.as_str()), (id.as_str(), s.csrf.as_str()));
        assert!(a.sign_in(None, Some("horse battery")).is_ok());
        assert_eq!(a.sign_in(Some("nope"), None).unwrap_err(), Refusal::Wrong);
        assert_eq!(a.session_from_cookies(Some("keystation_session_8470=forged")).unwrap_err(), NoSession::Missing);
        assert_eq!(a.session_from_cookies(None).unwrap_err(), NoSession::Missing);
        a.close_session(&id);
        assert_eq!(a.session_from_cookies(Some(&cookie)).unwrap_err(), NoSession::Ended(Ended::SignedOut));
        assert!(info.ended.is_cancelled(), "signing out ends the session's streams");
    }

    #[test]
    fn wrong_guesses_lock_out_even_the_right_secret() {
        let a = auth();
        for _ in 0..MAX_FAILURES {
            assert_eq!(a.check_operator_pin("0000"), Err(Refusal::Wrong));
        }
        assert!(matches!(a.check_operator_pin("4711"), Err(Refusal::LockedOut(_))));
        let b = Auth::new(Secrets::default(), 1, false, SessionLimits::default());
        assert_eq!(b.check_operator_pin("4711"), Err(Refusal::NotConfigured));
        assert_eq!(b.sign_in(None, Some("x")).unwrap_err(), Refusal::NotConfigured);
    }

    #[test]
    fn exit_sequence_and_cookies() {
        let a = auth();
        assert!(a.is_exit_sequence("#exit-99"));
        assert!(!a.is_exit_sequence("#exit-9"));
        assert!(a.cookie_for("abc").contains("HttpOnly; SameSite=Strict"));
        assert!(!a.cookie_for("abc").contains("Expires") && !a.cookie_for("abc").contains("Max-Age"));
        assert_eq!(cookie_value("a=1; b = 2 ;c=3", "b"), Some("2"));
        assert_eq!(cookie_value("a=1", "b"), None);
    }

    #[test]
    fn ended_sessions_are_removed_and_their_records_are_bounded() {
        let a = auth_with(SessionLimits { idle: Duration::from_millis(300), lifetime: Duration::from_secs(3600) });
        let cookie = |id: &str| format!("keystation_session_8470={id}");
        let ids: Vec<String> = (0..MAX_ENDED + 10).map(|_| a.sign_in(Some(&a.launch_token().expose().to_string()), None).unwrap().0).collect();
        assert!(a.session_count() <= MAX_SESSIONS, "never more than MAX_SESSIONS in memory");
        std::thread::sleep(Duration::from_millis(400));
        a.sweep();
        assert_eq!(a.session_count(), 0);
        assert!(lock(&a.ended).len() <= MAX_ENDED);
        let last = ids.last().unwrap();
        assert_eq!(a.session_from_cookies(Some(&cookie(last))).unwrap_err(), NoSession::Ended(Ended::Idle(Duration::from_millis(300))));
        assert!(a.sweep_interval() >= Duration::from_millis(100));
    }

    #[test]
    fn the_desk_screen_waits_but_not_past_the_lifetime() {
        let a = auth_with(SessionLimits { idle: Duration::from_millis(40), lifetime: Duration::from_millis(400) });
        let token = a.launch_token().expose().to_string();
        let (desk, _) = a.sign_in(Some(&token), None).unwrap();
        let (operator, _) = a.sign_in(Some(&token), None).unwrap();
        a.set_role(&desk, Role::Desk);
        std::thread::sleep(Duration::from_millis(80));
        a.sweep();
        let cookie = |id: &str| format!("keystation_session_8470={id}");
        assert!(a.session_from_cookies(Some(&cookie(&desk))).is_ok(), "a desk screen is not idled out");
        assert_eq!(a.session_from_cookies(Some(&cookie(&operator))).unwrap_err(), NoSession::Ended(Ended::Idle(Duration::from_millis(40))));
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(a.session_from_cookies(Some(&cookie(&desk))).unwrap_err(), NoSession::Ended(Ended::Lifetime(Duration::from_millis(400))));
    }

    #[test]
    fn ended_messages_name_the_limit() {
        assert_eq!(Ended::Idle(Duration::from_secs(900)).message(), "Your session ended after 15 minutes without activity; sign in again.");
        assert_eq!(Ended::Lifetime(Duration::from_secs(43_200)).message(), "Your session ended: a session lasts at most 12 hours; sign in again.");
        assert_eq!(span(Duration::from_secs(1)), "1 second");
        assert_eq!(span(Duration::from_secs(90)), "90 seconds");
        assert_eq!(span(Duration::from_secs(3600)), "1 hour");
    }
}
