//! Who may use the console: the launch token, the operator password, sessions and the
//! desk lock.
//!
//! * The **launch token** (256 random bits) is made when the console starts and is only
//!   ever handed to the operator inside a link's fragment (`…/#token=…`), which a
//!   browser never sends to a server: it cannot end up in an access log, a proxy or a
//!   `Referer`. The page's script posts it once to `/api/session` and replaces the
//!   address, so it leaves the browser's history too.
//! * A **session** is a fresh random id in an `HttpOnly`, `SameSite=Strict` cookie that
//!   lives as long as the browser (no expiry date) and the console process (sessions are
//!   kept in memory only). Each session has its own CSRF token, which the page keeps in
//!   memory and sends as `X-CSRF-Token` with every state-changing request.
//! * A session opened on the desk is **locked to the desk**: it reaches the desk's page
//!   and actions only, until the operator's PIN, the exit sequence or the launch link
//!   unlocks it.
//! * Secrets are compared in constant time (on their SHA-256 digests), and wrong guesses
//!   are slowed down: after [`MAX_FAILURES`] in a row, every guess is refused for
//!   [`LOCKOUT`].
use crate::secret::SecretString;
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
    last_seen: Instant,
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
    /// consoles on one machine do not overwrite each other's sessions.
    pub fn new(secrets: Secrets, port: u16, secure_cookie: bool) -> Auth {
        Auth {
            launch_token: SecretString::new(random_token()),
            password: secrets.password,
            operator_pin: secrets.operator_pin,
            exit_sequence: secrets.exit_sequence,
            sessions: Mutex::new(HashMap::new()),
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
        let id = random_token();
        let session = Session { csrf: random_token(), role, last_seen: Instant::now() };
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The session named by a request's cookie header, if any (and mark it used).
    pub fn session_from_cookies(&self, cookie_header: Option<&str>) -> Option<SessionInfo> {
        let id = cookie_value(cookie_header?, &self.cookie_name)?;
        let mut sessions = lock(&self.sessions);
        let (key, s) = sessions.iter_mut().find(|(k, _)| same_secret(k, id))?;
        s.last_seen = Instant::now();
        Some(SessionInfo { id: key.clone(), role: s.role, csrf: s.csrf.clone() })
    }

    /// Change a session's role (desk lock / unlock).
    pub fn set_role(&self, id: &str, role: Role) {
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            s.role = role;
        }
    }

    /// Forget a session (sign out).
    pub fn close_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
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
        Auth::new(Secrets { password: Some("horse battery".into()), operator_pin: Some("4711".into()), exit_sequence: Some("#exit-99".into()) }, 8470, false)
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
        assert!(a.session_from_cookies(Some("keystation_session_8470=forged")).is_none());
        a.close_session(&id);
        assert!(a.session_from_cookies(Some(&cookie)).is_none());
    }

    #[test]
    fn wrong_guesses_lock_out_even_the_right_secret() {
        let a = auth();
        for _ in 0..MAX_FAILURES {
            assert_eq!(a.check_operator_pin("0000"), Err(Refusal::Wrong));
        }
        assert!(matches!(a.check_operator_pin("4711"), Err(Refusal::LockedOut(_))));
        let b = Auth::new(Secrets::default(), 1, false);
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
}
