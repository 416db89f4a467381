//! The automatic mode: recognise the page, run its handler, repeat — until the page has
//! received keystation's credential and the flow says `finish`, or the budget is spent.
//!
//! Every poll (about ten a second) is one probe that reads the URL, `$Config`, the
//! document's identity and every element the flow's pages and error rules look for.
//! Known errors are checked first, so a banner ends the registration at once. Then the
//! first page whose conditions hold is the page being shown; its handler runs once per
//! document (again after `rerun` when nothing changed). Interrupts, repeated pages and
//! optional dialogs are therefore absorbed by recognition, whatever their order. Bridge
//! events are read between polls: the ceremony's outcome (credential, key error, journal
//! refusal) can arrive at any time.
//!
//! Time is a budget (`flow.budget`): the whole run, a page nobody recognises
//! (`unrecognised`, 10 s: then the manual mode takes over where it can), one page that
//! does not change (`stay`), the ceremony's start and finish, restarts of the sign-in
//! while a new TAP is not offered yet (`restart_backoff`, `restart_within`). No single
//! page can spend the whole budget.
use super::banners::{self, PageError, QueryBook};
use super::bridge::BridgeEvent;
use super::context::EnrollmentContext;
use super::error::BrowserError;
use super::evidence::{Evidence, StepRecord};
use super::flow::{ActOpts, Action, Budget, CREATED_FLAG, FillValue, Flow, FlowVars, Locator};
use super::page::{ActOutcome, Page, PageState, Query, is_transient};
use crate::ceremony::registrar::{CeremonyError, RegistrationObserver};
use crate::ceremony::webauthn::{CreatedCredential, WebAuthnError};
use crate::key::KeyError;
use crate::secret::SecretString;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Time between two polls of the page.
const POLL: Duration = Duration::from_millis(100);
/// How long an error rule that holds by absence (`absent`) must keep holding.
const ABSENCE_SETTLE: Duration = Duration::from_millis(1500);

/// Values the flow's `fill` actions type.
pub struct FlowInputs<'a> {
    /// `$upn`.
    pub upn: &'a str,
    /// `$tap`.
    pub tap: &'a SecretString,
    /// `$display_name`.
    pub display_name: &'a str,
}

/// Changes to a flow's budget made by the station or by tests (tests run the
/// unrecognised-page wait and the restart backoff short; one test keeps the real ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetOverrides {
    /// Replaces `budget.unrecognised`.
    pub unrecognised: Option<Duration>,
    /// Replaces `budget.restart_backoff`.
    pub restart_backoff: Option<Vec<Duration>>,
    /// Replaces `budget.total`.
    pub total: Option<Duration>,
}

impl BudgetOverrides {
    /// The flow's budget with these changes.
    pub fn apply(&self, b: &Budget) -> Budget {
        let mut b = b.clone();
        if let Some(v) = self.unrecognised {
            b.unrecognised = v;
        }
        if let Some(v) = &self.restart_backoff
            && !v.is_empty()
        {
            b.restart_backoff = v.clone();
        }
        if let Some(v) = self.total {
            b.total = v;
        }
        b
    }
}

/// Why the automatic mode stopped.
#[derive(Debug)]
pub struct Failure {
    /// What the pipeline gets (boxed: `CeremonyError` is large and `Failure` travels
    /// through every poll's `Result`).
    pub error: Box<CeremonyError>,
    /// The manual mode may take over (the automation lost its way, not a refusal).
    pub fallback: bool,
    /// A stable code for the evidence log (`KeyLimitReached`, `Unrecognised`, ...).
    pub code: String,
}

impl Failure {
    /// A failure with a code for the evidence log.
    pub fn new(code: &str, error: CeremonyError, fallback: bool) -> Failure {
        Failure { error: Box::new(error), fallback, code: code.to_string() }
    }

    fn browser(code: &str, message: String, fallback: bool) -> Failure {
        Failure::new(code, CeremonyError::Browser { message, missing_component: false }, fallback)
    }

    fn from_page(e: PageError) -> Failure {
        Failure::new(&e.code.clone(), CeremonyError::Page { code: e.code, message: e.message }, e.fallback)
    }

    fn from_browser(e: BrowserError) -> Failure {
        let missing = e.is_missing_component();
        Failure::new("BrowserFailed", CeremonyError::Browser { message: e.to_string(), missing_component: missing }, !missing)
    }
}

/// How a ceremony failure reported by the bridge reaches the pipeline.
pub fn ceremony_failure(e: WebAuthnError) -> Failure {
    use WebAuthnError as W;
    match e {
        W::Key(k) => Failure::new("KeyFailed", CeremonyError::Key(k), false),
        W::CredentialExcluded => Failure::new("AlreadyRegistered", CeremonyError::Key(KeyError::CredentialExcluded), false),
        W::Timeout(_) => Failure::new("KeyTimedOut", CeremonyError::Key(KeyError::UserActionTimeout), false),
        W::Aborted => Failure::browser("PageAborted", "the page aborted the WebAuthn ceremony (it navigated away or gave up)".into(), true),
        W::Internal(m) => Failure::browser("BridgeFailed", format!("the WebAuthn bridge failed: {m}"), true),
        e if e.is_refusal_before_key() => {
            Failure::new("WebAuthnRefused", CeremonyError::Policy(format!("keystation refused the page's WebAuthn request (the key was not used): {e}")), false)
        }
        other => Failure::new("CeremonyFailed", CeremonyError::Other(format!("the WebAuthn ceremony failed: {other}")), false),
    }
}

/// The page the engine is on: which rule, which document, since when.
struct Visit {
    page: usize,
    doc: f64,
    since: Instant,
    last_run: Option<Instant>,
}

/// How one handler action ended.
enum ActionEnd {
    Done(String),
    Skipped,
    /// Another page (or document) showed up while the action waited.
    Interrupted,
    /// No locator matched in time (the page stays; the main loop decides).
    NotFound(String),
}

/// Walks one flow in one context.
pub struct Runner<'a> {
    ctx: &'a mut EnrollmentContext,
    page: Page,
    flow: &'a Flow,
    vars: &'a FlowVars,
    inputs: FlowInputs<'a>,
    observer: &'a dyn RegistrationObserver,
    evidence: &'a mut Evidence,
    budget: Budget,
    book: QueryBook,
    flags: HashSet<String>,
    started: Instant,
    create_armed: Option<Instant>,
    create_started: Option<Instant>,
    credential: Option<Box<CreatedCredential>>,
    finished: bool,
    last_state: Option<PageState>,
    last_transient: Option<String>,
    visit: Option<Visit>,
    visits: HashMap<usize, u32>,
    unrecognised_since: Option<Instant>,
    /// An error rule that holds by absence, and since when it has held.
    absence_since: Option<(String, Instant)>,
    restarts: usize,
    restart_waited: Duration,
}

impl<'a> Runner<'a> {
    /// A runner for `flow` in `ctx`.
    pub fn new(
        ctx: &'a mut EnrollmentContext,
        flow: &'a Flow,
        vars: &'a FlowVars,
        inputs: FlowInputs<'a>,
        observer: &'a dyn RegistrationObserver,
        evidence: &'a mut Evidence,
        overrides: &BudgetOverrides,
    ) -> Runner<'a> {
        let page = ctx.page();
        Runner {
            ctx,
            page,
            flow,
            vars,
            inputs,
            observer,
            evidence,
            budget: overrides.apply(&flow.budget),
            book: QueryBook::for_flow(flow),
            flags: HashSet::new(),
            started: Instant::now(),
            create_armed: None,
            create_started: None,
            credential: None,
            finished: false,
            last_state: None,
            last_transient: None,
            visit: None,
            visits: HashMap::new(),
            unrecognised_since: None,
            absence_since: None,
            restarts: 0,
            restart_waited: Duration::ZERO,
        }
    }

    /// Recognise pages and run their handlers until the flow finishes. Returns the
    /// credential the page received.
    pub async fn run(&mut self) -> Result<Box<CreatedCredential>, Failure> {
        let r = self.walk().await;
        if let Err(f) = &r {
            self.record(None, "stopped", &f.code, "failed", Instant::now(), Some(f.error.to_string()));
            self.settle().await;
            self.evidence.capture(self.ctx, "failure").await;
        }
        r
    }

    async fn walk(&mut self) -> Result<Box<CreatedCredential>, Failure> {
        let start = self.vars.expand(&self.flow.start_url);
        let t = Instant::now();
        self.page.navigate(&start).await.map_err(Failure::from_browser)?;
        self.record(None, "navigate", &super::page::strip_query(&start), "ok", t, None);
        loop {
            self.check_time()?;
            if self.finished {
                return self.credential.take().ok_or_else(|| {
                    Failure::browser("NoCredential", "the flow finished but the page never received a credential from keystation".into(), true)
                });
            }
            let Some(st) = self.tick(&[]).await? else {
                self.pause().await?;
                continue;
            };
            match banners::recognise(self.flow, &self.book, &st, self.vars, &self.flags) {
                Some(i) => {
                    self.unrecognised_since = None;
                    self.on_page(i, &st).await?;
                }
                None => self.on_unrecognised(&st).await?,
            }
            if !self.finished {
                self.pause().await?;
            }
        }
    }

    /// The page `i` is showing: count the visit, run its handler when it is due.
    async fn on_page(&mut self, i: usize, st: &PageState) -> Result<(), Failure> {
        let flow = self.flow;
        let rule = &flow.pages[i];
        let new_visit = !self.visit.as_ref().is_some_and(|v| v.page == i && v.doc == st.doc);
        if new_visit {
            let n = {
                let n = self.visits.entry(i).or_insert(0);
                *n += 1;
                *n
            };
            let max = rule.max_visits.unwrap_or(self.budget.max_visits);
            if n > max {
                return Err(Failure::browser(
                    "PageLoop",
                    format!("automatic mode is going round in circles: page {} came back {n} times (at most {max}); it is {}", rule.id, self.where_now()),
                    true,
                ));
            }
            self.visit = Some(Visit { page: i, doc: st.doc, since: Instant::now(), last_run: None });
            self.observer.progress(&format!("browser: page {}", rule.id));
            let index = self.evidence.next_index();
            self.record(Some(i), "recognised", &format!("visit {n}"), "ok", Instant::now(), None);
            // The page is recognised, so it is settled: a safe moment for a screenshot.
            self.evidence.capture(self.ctx, &Evidence::step_name(index, &rule.id)).await;
        }
        let ceremony_running = self.create_started.is_some() && self.credential.is_none();
        let Some(visit) = self.visit.as_mut() else { return Ok(()) };
        if rule.actions.is_empty() {
            // A page to wait on (the ceremony page); the ceremony's own limits apply.
            if !ceremony_running && self.create_armed.is_none() && visit.since.elapsed() > self.budget.stay {
                return Err(self.stuck(i, "nothing changed"));
            }
            return Ok(());
        }
        let due = visit.last_run.is_none_or(|t| t.elapsed() >= self.budget.rerun);
        // Never run a handler again while a ceremony is on its way or running: pressing
        // Next twice must not start a second one.
        if !due || (visit.last_run.is_some() && (self.create_armed.is_some() || ceremony_running)) {
            return Ok(());
        }
        if visit.last_run.is_some() && visit.since.elapsed() > self.budget.stay && !ceremony_running {
            return Err(self.stuck(i, "its handler ran but the page did not change"));
        }
        visit.last_run = Some(Instant::now());
        self.run_handler(i).await
    }

    fn stuck(&self, i: usize, why: &str) -> Failure {
        Failure::browser(
            "PageStuck",
            format!(
                "automatic mode is stuck on page {} for more than {} s ({why}); it is {}{}",
                self.flow.pages[i].id,
                self.budget.stay.as_secs(),
                self.where_now(),
                self.last_transient.as_ref().map(|e| format!("; last browser answer: {e}")).unwrap_or_default()
            ),
            true,
        )
    }

    /// No rule recognises the page: wait `unrecognised`, then give up with a screenshot
    /// named after the page.
    async fn on_unrecognised(&mut self, st: &PageState) -> Result<(), Failure> {
        if self.create_started.is_some() && self.credential.is_none() {
            // The key may wait for a touch for minutes; the ceremony's limits apply.
            self.unrecognised_since = None;
            return Ok(());
        }
        self.visit = None;
        let since = *self.unrecognised_since.get_or_insert_with(Instant::now);
        if since.elapsed() < self.budget.unrecognised {
            return Ok(());
        }
        let name = st.name();
        let index = self.evidence.next_index();
        self.record(None, "unrecognised", &name, "failed", since, None);
        self.evidence.capture(self.ctx, &Evidence::step_name(index, &format!("unrecognised-{}", slug(&name)))).await;
        Err(Failure::browser(
            "Unrecognised",
            format!(
                "automatic mode stopped: no page of flow {} recognises \"{name}\" ({}, page id {}) after {} s",
                self.flow.name,
                st.url_for_log(),
                st.pgid.as_deref().unwrap_or("none"),
                self.budget.unrecognised.as_secs()
            ),
            true,
        ))
    }

    async fn run_handler(&mut self, i: usize) -> Result<(), Failure> {
        let flow = self.flow;
        let rule = &flow.pages[i];
        for action in &rule.actions {
            let t = Instant::now();
            let end = self.act(i, action).await?;
            let (status, target, error) = match end {
                ActionEnd::Done(target) => ("ok", target, None),
                ActionEnd::Skipped => ("skipped", describe(action, self.vars), None),
                ActionEnd::Interrupted => ("interrupted", describe(action, self.vars), None),
                ActionEnd::NotFound(why) => ("failed", describe(action, self.vars), Some(why)),
            };
            self.record(Some(i), action_name(action), &target, status, t, error);
            if matches!(status, "interrupted" | "failed") || self.finished {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn act(&mut self, i: usize, action: &Action) -> Result<ActionEnd, Failure> {
        match action {
            Action::Navigate(url) => {
                let url = self.vars.expand(url);
                self.page.navigate(&url).await.map_err(Failure::from_browser)?;
                self.visit = None;
                Ok(ActionEnd::Done(super::page::strip_query(&url)))
            }
            Action::ExpectCreate => {
                if self.create_started.is_none() {
                    self.create_armed = Some(Instant::now());
                }
                Ok(ActionEnd::Done("navigator.credentials.create".into()))
            }
            Action::Set(flag) => {
                self.flags.insert(flag.clone());
                Ok(ActionEnd::Done(flag.clone()))
            }
            Action::Finish => {
                if self.credential.is_none() {
                    return Err(Failure::browser(
                        "NoCredential",
                        format!("the flow reached its end (page {}) but the page never received a credential from keystation", self.flow.pages[i].id),
                        true,
                    ));
                }
                self.finished = true;
                Ok(ActionEnd::Done("done".into()))
            }
            Action::Restart => self.restart().await,
            Action::Fill { value, into, opts } => {
                let v: &str = match value {
                    FillValue::Upn => self.inputs.upn,
                    FillValue::Tap => self.inputs.tap.expose(),
                    FillValue::DisplayName => self.inputs.display_name,
                    FillValue::Literal(s) => s,
                };
                // The value is copied only for the duration of the call.
                let v = SecretString::new(v);
                let page = self.page.clone();
                let end = self
                    .on_element(i, into, opts, |l| {
                        let (page, v) = (page.clone(), v.clone());
                        async move { page.fill_any(&l, v.expose()).await }
                    })
                    .await?;
                // The log names the variable, never the value.
                Ok(match end {
                    ActionEnd::Done(t) => ActionEnd::Done(format!("type {} into {t}", value.describe())),
                    other => other,
                })
            }
            Action::Click { target, opts } => {
                let page = self.page.clone();
                self.on_element(i, target, opts, |l| {
                    let page = page.clone();
                    async move { page.click_any(&l).await }
                })
                .await
            }
            Action::Choose { combobox, option, value, opts } => {
                let page = self.page.clone();
                let (option, value) = (option.clone(), value.clone());
                self.on_element(i, combobox, opts, |l| {
                    let (page, option, value) = (page.clone(), option.clone(), value.clone());
                    async move { page.choose_any(&l, &option, value.as_deref()).await }
                })
                .await
            }
        }
    }

    /// Wait until one of `locators` is visible and enabled, then act on it. Gives up when
    /// another page shows up (the main loop takes it from there) or the wait is over.
    async fn on_element<F, Fut>(&mut self, i: usize, locators: &[Locator], opts: &ActOpts, action: F) -> Result<ActionEnd, Failure>
    where
        F: Fn(Vec<Locator>) -> Fut,
        Fut: std::future::Future<Output = Result<ActOutcome, BrowserError>>,
    {
        let wait = opts.wait.unwrap_or(if opts.optional { Duration::ZERO } else { self.budget.action });
        // No action outlives its page's `stay` (nor the whole budget).
        let mut deadline = Instant::now() + wait;
        if let Some(v) = &self.visit {
            deadline = deadline.min(v.since + self.budget.stay);
        }
        deadline = deadline.min(self.started + self.budget.total);
        let queries: Vec<Query> = locators.iter().cloned().map(Query::new).collect();
        let doc = self.visit.as_ref().map(|v| v.doc);
        let mut last = ActOutcome::Missing;
        loop {
            if let Some(st) = self.tick(&queries).await? {
                let here = banners::recognise(self.flow, &self.book, &st, self.vars, &self.flags);
                if (here.is_some() && here != Some(i)) || doc.is_some_and(|d| d != st.doc) {
                    return Ok(ActionEnd::Interrupted);
                }
                let extra = &st.answers[st.answers.len() - queries.len()..];
                if extra.iter().any(|a| a.found && a.enabled) {
                    match action(locators.to_vec()).await {
                        Ok(ActOutcome::Done(k)) => return Ok(ActionEnd::Done(describe_locator(&locators[k.min(locators.len() - 1)]))),
                        Ok(other) => last = other,
                        Err(e) if is_transient(&e) || matches!(e, BrowserError::Command { .. }) => self.last_transient = Some(e.to_string()),
                        Err(e) => return Err(Failure::from_browser(e)),
                    }
                } else if extra.iter().any(|a| a.found) {
                    last = ActOutcome::Disabled;
                }
            }
            if Instant::now() >= deadline {
                if opts.optional {
                    return Ok(ActionEnd::Skipped);
                }
                let why = match last {
                    ActOutcome::NoOption => "the list had no such option",
                    ActOutcome::Disabled => "the element stayed disabled",
                    _ => "no locator matched",
                };
                return Ok(ActionEnd::NotFound(format!("{why} in time")));
            }
            self.pause().await?;
        }
    }

    /// Wait the next backoff step, then start the sign-in again.
    async fn restart(&mut self) -> Result<ActionEnd, Failure> {
        let backoff = &self.budget.restart_backoff;
        let wait = backoff[self.restarts.min(backoff.len() - 1)];
        if self.restart_waited + wait > self.budget.restart_within {
            return Err(Failure::browser(
                "TapNotOffered",
                format!(
                    "sign-in still does not offer the Temporary Access Pass after {} restarts over {} s (it shows {}); a new pass can take a while to reach sign-in — try again later or issue a new pass",
                    self.restarts,
                    self.restart_waited.as_secs(),
                    self.where_now()
                ),
                true,
            ));
        }
        self.observer.progress(&format!("browser: sign-in does not offer the Temporary Access Pass yet; starting again in {} s", wait.as_secs()));
        let until = Instant::now() + wait;
        while Instant::now() < until {
            self.check_time()?;
            // Errors and bridge events still count while waiting.
            self.tick(&[]).await?;
            self.pause().await?;
        }
        self.restarts += 1;
        self.restart_waited += wait;
        let start = self.vars.expand(&self.flow.start_url);
        self.page.navigate(&start).await.map_err(Failure::from_browser)?;
        self.visit = None;
        Ok(ActionEnd::Done(format!("after {} s: {}", wait.as_secs(), super::page::strip_query(&start))))
    }

    /// The whole budget and the ceremony's limits.
    fn check_time(&self) -> Result<(), Failure> {
        if let Some(t) = self.create_started
            && self.credential.is_none()
            && t.elapsed() > self.budget.ceremony_finish
        {
            return Err(Failure::new(
                "KeyTimedOut",
                CeremonyError::Other(format!("the WebAuthn ceremony did not finish within {} s (is the key waiting for a touch?)", self.budget.ceremony_finish.as_secs())),
                false,
            ));
        }
        if let Some(t) = self.create_armed
            && self.create_started.is_none()
            && t.elapsed() > self.budget.ceremony_start
        {
            return Err(Failure::browser(
                "Stuck",
                format!(
                    "automatic mode is stuck: the page did not ask for a credential within {} s of the handler that should have started the ceremony; it is {}",
                    self.budget.ceremony_start.as_secs(),
                    self.where_now()
                ),
                true,
            ));
        }
        if self.started.elapsed() > self.budget.total && !(self.create_started.is_some() && self.credential.is_none()) {
            return Err(Failure::browser(
                "BudgetSpent",
                format!("automatic mode used its whole budget of {} s (the TAP's registration window); it is {}", self.budget.total.as_secs(), self.where_now()),
                true,
            ));
        }
        Ok(())
    }

    /// Give a failing page a moment to finish loading (an error page after a form
    /// post) before the failure screenshot.
    async fn settle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.page.probe(&[]).await {
                Ok(st) if st.ready == "complete" => return,
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    fn where_now(&self) -> String {
        match &self.last_state {
            Some(s) => format!("on \"{}\" ({}, page id {})", s.name(), s.url_for_log(), s.pgid.as_deref().unwrap_or("none")),
            None => "on an unknown page".into(),
        }
    }

    fn record(&mut self, page: Option<usize>, action: &str, target: &str, status: &str, started: Instant, error: Option<String>) {
        let state = self.last_state.as_ref();
        let took = started.elapsed().as_millis() as u64;
        self.evidence.record(StepRecord {
            index: self.evidence.next_index(),
            page: page.map(|i| self.flow.pages[i].id.clone()),
            action: action.into(),
            target: target.into(),
            status: status.into(),
            started_ms: self.evidence.elapsed_ms().saturating_sub(took),
            took_ms: took,
            url: state.map(PageState::url_for_log),
            pgid: state.and_then(|s| s.pgid.clone()),
            error,
        });
    }

    /// Read bridge events, probe the page (the flow's queries plus `extra`), check the
    /// error rules. `None` when the page could not be read this time (navigation).
    async fn tick(&mut self, extra: &[Query]) -> Result<Option<PageState>, Failure> {
        while let Some(ev) = self.ctx.try_next_event() {
            self.on_event(ev)?;
        }
        let mut all = self.book.queries().to_vec();
        all.extend(extra.iter().cloned());
        let st = match self.page.probe(&all).await {
            Ok(st) => st,
            Err(e) if is_transient(&e) || matches!(e, BrowserError::Command { .. }) => {
                self.last_transient = Some(e.to_string());
                return Ok(None);
            }
            Err(e) => return Err(Failure::from_browser(e)),
        };
        if st.answers.len() != all.len() {
            return Err(Failure::browser("BrowserFailed", format!("the page answered {} of {} queries", st.answers.len(), all.len()), true));
        }
        if let Some((sel, m)) = self.book.bad_selector(&st) {
            return Err(Failure::browser("BadFlow", format!("the flow's selector {sel:?} is not valid CSS: {m}"), true));
        }
        self.last_state = Some(st.clone());
        let error = banners::match_errors(self.flow, &self.book, &st, self.vars);
        let error = match error {
            // Raised only when the page has shown the same lack for ABSENCE_SETTLE (a
            // page being rendered or replaced lacks its elements for a moment).
            Some(e) if e.by_absence => match &self.absence_since {
                Some((code, since)) if *code == e.code && since.elapsed() >= ABSENCE_SETTLE => Some(e),
                Some((code, _)) if *code == e.code => None,
                _ => {
                    self.absence_since = Some((e.code.clone(), Instant::now()));
                    None
                }
            },
            other => {
                self.absence_since = None;
                other
            }
        };
        if let Some(e) = error {
            if self.create_started.is_some() && self.credential.is_none() {
                // The page reacts to a failed ceremony; the bridge knows the precise
                // reason (key removed, journal refused...) and reports it first.
                while let Some(ev) = self.ctx.try_next_event() {
                    self.on_event(ev)?;
                }
            }
            return Err(Failure::from_page(e));
        }
        Ok(Some(st))
    }

    /// Wait for the next poll, handling a bridge event as soon as it arrives.
    async fn pause(&mut self) -> Result<(), Failure> {
        if let Some(ev) = self.ctx.next_event(POLL).await {
            self.on_event(ev)?;
        }
        Ok(())
    }

    fn on_event(&mut self, ev: BridgeEvent) -> Result<(), Failure> {
        match ev {
            BridgeEvent::CreateStarted { origin, .. } => {
                tracing::debug!(%origin, "the page asked for a credential");
                self.create_started = Some(Instant::now());
                self.create_armed = None;
                self.observer.progress("the page asked for a credential; keystation is making it on the key");
            }
            BridgeEvent::Registered(c) => {
                self.observer.progress("the key made the credential; the page is submitting it");
                self.credential = Some(c);
                self.flags.insert(CREATED_FLAG.to_string());
            }
            BridgeEvent::Failed { error, .. } => return Err(ceremony_failure(error)),
            BridgeEvent::GateRefused { reason, .. } if self.credential.is_some() => {
                // The page asked for a second credential after it got one; the gate
                // refused it before the key was touched, and the first one stands.
                tracing::warn!("the page asked for another credential after receiving one; refused: {reason}");
            }
            BridgeEvent::GateRefused { reason, .. } => return Err(Failure::new("JournalRefused", CeremonyError::Journal(reason), false)),
            BridgeEvent::GetRefused { .. } | BridgeEvent::MessageRefused { .. } => {}
        }
        Ok(())
    }
}

/// A file-name-safe form of a page's name (`Review the updated terms` →
/// `review-the-updated-terms`).
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "page".into() } else { out }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Fill { .. } => "fill",
        Action::Click { .. } => "click",
        Action::Choose { .. } => "choose",
        Action::Navigate(_) => "navigate",
        Action::ExpectCreate => "expect_create",
        Action::Restart => "restart",
        Action::Set(_) => "set",
        Action::Finish => "finish",
    }
}

/// A locator for logs and messages.
pub fn describe_locator(l: &Locator) -> String {
    match l {
        Locator::Css { selector, text } if text.is_empty() => selector.clone(),
        Locator::Css { selector, text } => format!("{selector} with text {}", text.join("|")),
        Locator::Role { role, name } if name.is_empty() => format!("role {role}"),
        Locator::Role { role, name } => format!("role {role} named {}", name.join("|")),
        Locator::Label(t) => format!("label {}", t.join("|")),
        Locator::Heading(t) => format!("heading {}", t.join("|")),
    }
}

/// What an action acts on, for the log and messages (no secret values).
pub fn describe(a: &Action, vars: &FlowVars) -> String {
    let alts = |ls: &[Locator]| ls.iter().map(describe_locator).collect::<Vec<_>>().join(" or ");
    match a {
        Action::Fill { value, into, .. } => format!("type {} into {}", value.describe(), alts(into)),
        Action::Click { target, .. } => format!("click {}", alts(target)),
        Action::Choose { combobox, option, value, .. } => match value {
            Some(v) => format!("choose value {v} in {}", alts(combobox)),
            None => format!("choose {} in {}", option.join("|"), alts(combobox)),
        },
        Action::Navigate(url) => format!("load {}", super::page::strip_query(&vars.expand(url))),
        Action::ExpectCreate => "navigator.credentials.create".into(),
        Action::Restart => "start the sign-in again".into(),
        Action::Set(f) => format!("set {f}"),
        Action::Finish => "finish".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_name_files() {
        assert_eq!(slug("Review the updated terms"), "review-the-updated-terms");
        assert_eq!(slug("  «Über» —  "), "ber");
        assert_eq!(slug(""), "page");
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let b = Budget::default();
        let o = BudgetOverrides { unrecognised: Some(Duration::from_secs(2)), restart_backoff: Some(vec![Duration::from_millis(300)]), total: None };
        let a = o.apply(&b);
        assert_eq!(a.unrecognised, Duration::from_secs(2));
        assert_eq!(a.restart_backoff, vec![Duration::from_millis(300)]);
        assert_eq!(a.total, b.total);
    }
}
