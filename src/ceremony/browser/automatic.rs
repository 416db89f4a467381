//! The automatic mode: walk a flow description in an enrolment context.
//!
//! Every step polls the tab (about ten times a second) with one probe that reads the
//! URL, `$Config` and the elements the step and the flow's error rules look for.
//! Known errors are checked first on every poll, so a banner ends the step at once
//! instead of after its timeout. Bridge events are read between polls: the ceremony's
//! outcome (credential, key error, journal refusal) can arrive during any step.
use super::banners::{self, PageError};
use super::bridge::BridgeEvent;
use super::context::EnrollmentContext;
use super::error::BrowserError;
use super::evidence::{Evidence, StepRecord};
use super::flow::{Action, Condition, FillValue, Flow, FlowVars, Step};
use super::page::{ActOutcome, Lookup, Page, PageState, is_transient};
use crate::ceremony::registrar::{CeremonyError, RegistrationObserver};
use crate::ceremony::webauthn::{CreatedCredential, WebAuthnError};
use crate::key::KeyError;
use crate::secret::SecretString;
use std::time::{Duration, Instant};

/// Time between two polls of the page.
const POLL: Duration = Duration::from_millis(100);

/// Values the flow's `fill` steps type.
pub struct FlowInputs<'a> {
    /// `$upn`.
    pub upn: &'a str,
    /// `$tap`.
    pub tap: &'a SecretString,
    /// `$display_name`.
    pub display_name: &'a str,
}

/// Why the automatic mode stopped.
#[derive(Debug)]
pub struct Failure {
    /// What the pipeline gets (boxed: `CeremonyError` is large and `Failure` travels
    /// through every poll's `Result`).
    pub error: Box<CeremonyError>,
    /// The manual mode may take over (the automation lost its way, not a refusal).
    pub fallback: bool,
    /// A stable code for the evidence log (`KeyLimitReached`, `StepTimedOut`, ...).
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

/// Walks one flow in one context.
pub struct Runner<'a> {
    ctx: &'a mut EnrollmentContext,
    page: Page,
    flow: &'a Flow,
    vars: &'a FlowVars,
    inputs: FlowInputs<'a>,
    observer: &'a dyn RegistrationObserver,
    evidence: &'a mut Evidence,
    error_lookups: Vec<Lookup>,
    create_started: Option<Instant>,
    credential: Option<Box<CreatedCredential>>,
    last_state: Option<PageState>,
    last_transient: Option<String>,
}

/// Result of one step.
enum StepOutcome {
    Done,
    Skipped,
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
            error_lookups: banners::lookups(flow),
            create_started: None,
            credential: None,
            last_state: None,
            last_transient: None,
        }
    }

    /// Walk every step. Returns the credential the page received.
    pub async fn run(&mut self) -> Result<Box<CreatedCredential>, Failure> {
        let total = self.flow.steps.len();
        for (i, step) in self.flow.steps.iter().enumerate() {
            let index = i + 1;
            let started = Instant::now();
            let started_ms = self.evidence.elapsed_ms();
            let result = if self.skip_by_pgid(step).await? {
                Ok(StepOutcome::Skipped)
            } else {
                self.observer.progress(&format!("browser step {index}/{total}: {}", step.id));
                self.step(index, step).await
            };
            let (status, error) = match &result {
                Ok(StepOutcome::Done) => ("ok", None),
                Ok(StepOutcome::Skipped) => ("skipped", None),
                Err(f) => ("failed", Some(f.error.to_string())),
            };
            let state = self.last_state.as_ref();
            self.evidence.record(StepRecord {
                index,
                id: step.id.clone(),
                action: action_name(&step.action).into(),
                target: describe(&step.action, self.vars),
                status: status.into(),
                started_ms,
                took_ms: started.elapsed().as_millis() as u64,
                url: state.map(PageState::url_for_log),
                pgid: state.and_then(|s| s.pgid.clone()),
                error,
            });
            if let Err(f) = result {
                self.settle().await;
                self.evidence.capture(self.ctx, "failure").await;
                return Err(f);
            }
        }
        self.credential.take().ok_or_else(|| {
            Failure::browser("NoCredential", "the flow finished but the page never received a credential from keystation".into(), true)
        })
    }

    async fn skip_by_pgid(&mut self, step: &Step) -> Result<bool, Failure> {
        if step.if_pgid.is_empty() {
            return Ok(false);
        }
        // The step before established the page; read its id (retry over a navigation).
        let deadline = Instant::now() + step.timeout;
        loop {
            if let Some(st) = self.tick(&[]).await? {
                return Ok(!st.pgid.as_ref().is_some_and(|p| step.if_pgid.contains(p)));
            }
            if Instant::now() >= deadline {
                return Ok(true);
            }
            self.pause().await?;
        }
    }

    async fn step(&mut self, index: usize, step: &Step) -> Result<StepOutcome, Failure> {
        match &step.action {
            Action::Navigate { url } => {
                let url = self.vars.expand(url);
                self.page.navigate(&url).await.map_err(Failure::from_browser)?;
                Ok(StepOutcome::Done)
            }
            Action::WaitFor { any } => self.wait_for(index, step, any).await,
            Action::Fill { selector, value } => {
                let v: &str = match value {
                    FillValue::Upn => self.inputs.upn,
                    FillValue::Tap => self.inputs.tap.expose(),
                    FillValue::DisplayName => self.inputs.display_name,
                    FillValue::Literal(s) => s,
                };
                // The value is copied into a local only for the duration of the call.
                let v = SecretString::new(v);
                let page = self.page.clone();
                self.act(index, step, selector, &[], |sel| {
                    let page = page.clone();
                    let v = v.clone();
                    let sel = sel.to_string();
                    async move { page.fill(&sel, v.expose()).await }
                })
                .await
            }
            Action::Click { selector, text } => {
                let page = self.page.clone();
                let texts = text.clone();
                self.act(index, step, selector, text, |sel| {
                    let page = page.clone();
                    let texts = texts.clone();
                    let sel = sel.to_string();
                    async move { page.click(&sel, &texts).await }
                })
                .await
            }
            Action::Choose { combobox, option, value } => {
                let page = self.page.clone();
                let (option, value) = (option.clone(), value.clone());
                self.act(index, step, combobox, &[], |sel| {
                    let page = page.clone();
                    let (option, value) = (option.clone(), value.clone());
                    let sel = sel.to_string();
                    async move { page.choose(&sel, &option, value.as_deref()).await }
                })
                .await
            }
            Action::ExpectCreate { start_within, finish_within } => self.expect_create(index, step, *start_within, *finish_within).await,
        }
    }

    async fn wait_for(&mut self, index: usize, step: &Step, any: &[Condition]) -> Result<StepOutcome, Failure> {
        let mut lookups = Vec::new();
        for c in any {
            if let Some(s) = &c.selector {
                lookups.push(Lookup { selector: s.clone(), text: c.text.clone(), need_text: false });
            }
        }
        let deadline = Instant::now() + step.timeout;
        loop {
            if let Some(st) = self.tick(&lookups).await? {
                let mut answers = st.lookups.iter();
                for c in any {
                    let element = c.selector.as_ref().map(|_| answers.next().is_some_and(|a| a.found));
                    let pgid_ok = c.pgid.is_empty() || st.pgid.as_ref().is_some_and(|p| c.pgid.contains(p));
                    let url_ok = c.url_prefix.as_ref().is_none_or(|u| st.url.starts_with(&self.vars.expand(u)));
                    if element.unwrap_or(true) && pgid_ok && url_ok {
                        // The page is where the step expected it: a settled page.
                        self.evidence.capture(self.ctx, &Evidence::step_name(index, &step.id)).await;
                        return Ok(StepOutcome::Done);
                    }
                }
            }
            if Instant::now() >= deadline {
                return self.timed_out(index, step, &describe(&step.action, self.vars));
            }
            self.pause().await?;
        }
    }

    /// Wait until `selector` is visible (and enabled), then act on it.
    async fn act<F, Fut>(&mut self, index: usize, step: &Step, selector: &str, text: &[String], action: F) -> Result<StepOutcome, Failure>
    where
        F: Fn(&str) -> Fut,
        Fut: std::future::Future<Output = Result<ActOutcome, BrowserError>>,
    {
        let lookups = [Lookup { selector: selector.to_string(), text: text.to_vec(), need_text: false }];
        let deadline = Instant::now() + step.timeout;
        let mut last = None;
        loop {
            if let Some(st) = self.tick(&lookups).await?
                && st.lookups.first().is_some_and(|l| l.found && l.enabled)
            {
                if last.is_none() {
                    // Before acting: the element is there, the page is settled (after
                    // a click it may be navigating, when screenshots can stall).
                    self.evidence.capture(self.ctx, &Evidence::step_name(index, &step.id)).await;
                    last = Some(ActOutcome::Missing);
                }
                match action(selector).await {
                    Ok(ActOutcome::Done) => return Ok(StepOutcome::Done),
                    Ok(other) => last = Some(other),
                    Err(e) if is_transient(&e) || matches!(e, BrowserError::Command { .. }) => self.last_transient = Some(e.to_string()),
                    Err(e) => return Err(Failure::from_browser(e)),
                }
            }
            if Instant::now() >= deadline {
                let what = match last {
                    Some(ActOutcome::NoOption) => format!("{} (the list had no such option)", describe(&step.action, self.vars)),
                    Some(ActOutcome::Disabled) => format!("{} (the element stayed disabled)", describe(&step.action, self.vars)),
                    _ => describe(&step.action, self.vars),
                };
                return self.timed_out(index, step, &what);
            }
            self.pause().await?;
        }
    }

    async fn expect_create(&mut self, index: usize, step: &Step, start_within: Duration, finish_within: Duration) -> Result<StepOutcome, Failure> {
        let start_deadline = Instant::now() + start_within;
        loop {
            self.tick(&[]).await?;
            if self.credential.is_some() {
                return Ok(StepOutcome::Done);
            }
            match self.create_started {
                Some(t) if t.elapsed() > finish_within => {
                    return Err(Failure::new(
                        "KeyTimedOut",
                        CeremonyError::Other(format!("the WebAuthn ceremony did not finish within {}s (is the key waiting for a touch?)", finish_within.as_secs())),
                        false,
                    ));
                }
                Some(_) => {}
                None if Instant::now() >= start_deadline => {
                    let (url, pgid) = self.where_now();
                    return Err(Failure::browser(
                        "Stuck",
                        format!(
                            "automatic mode is stuck: the page did not ask for a credential within {}s of step {} (step {index}, {}); it is on {url} (page id {pgid})",
                            start_within.as_secs(),
                            index.saturating_sub(1),
                            step.id
                        ),
                        true,
                    ));
                }
                None => {}
            }
            self.pause().await?;
        }
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

    fn where_now(&self) -> (String, String) {
        let url = self.last_state.as_ref().map(PageState::url_for_log).unwrap_or_else(|| "an unknown page".into());
        let pgid = self.last_state.as_ref().and_then(|s| s.pgid.clone()).unwrap_or_else(|| "none".into());
        (url, pgid)
    }

    fn timed_out(&self, index: usize, step: &Step, what: &str) -> Result<StepOutcome, Failure> {
        if step.optional {
            return Ok(StepOutcome::Skipped);
        }
        let (url, pgid) = self.where_now();
        let extra = self.last_transient.as_ref().map(|e| format!("; last browser answer: {e}")).unwrap_or_default();
        Err(Failure::browser(
            "StepTimedOut",
            format!(
                "automatic mode is stuck at step {index} ({}): {what} did not happen within {}s; the page is {url} (page id {pgid}){extra}",
                step.id,
                step.timeout.as_secs()
            ),
            true,
        ))
    }

    /// Read bridge events, probe the page, check the error rules. `None` when the page
    /// could not be read this time (navigation in progress).
    async fn tick(&mut self, lookups: &[Lookup]) -> Result<Option<PageState>, Failure> {
        while let Some(ev) = self.ctx.try_next_event() {
            self.on_event(ev)?;
        }
        let mut all = lookups.to_vec();
        all.extend(self.error_lookups.iter().cloned());
        let mut st = match self.page.probe(&all).await {
            Ok(st) => st,
            Err(e) if is_transient(&e) || matches!(e, BrowserError::Command { .. }) => {
                self.last_transient = Some(e.to_string());
                return Ok(None);
            }
            Err(e) => return Err(Failure::from_browser(e)),
        };
        if let Some(bad) = st.lookups.iter().zip(&all).find_map(|(r, l)| r.bad_selector.as_ref().map(|m| (l.selector.clone(), m.clone()))) {
            return Err(Failure::browser("BadFlow", format!("the flow's selector {:?} is not valid CSS: {}", bad.0, bad.1), true));
        }
        let errors = st.lookups.split_off(lookups.len().min(st.lookups.len()));
        if let Some(e) = banners::match_errors(self.flow, &st, &errors) {
            self.last_state = Some(st);
            if self.create_started.is_some() && self.credential.is_none() {
                // The page reacts to a failed ceremony; the bridge knows the precise
                // reason (key removed, journal refused...) and reports it first.
                while let Some(ev) = self.ctx.try_next_event() {
                    self.on_event(ev)?;
                }
            }
            return Err(Failure::from_page(e));
        }
        self.last_state = Some(st.clone());
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
                self.observer.progress("the page asked for a credential; keystation is making it on the key");
            }
            BridgeEvent::Registered(c) => {
                self.observer.progress("the key made the credential; the page is submitting it");
                self.credential = Some(c);
            }
            BridgeEvent::Failed { error, .. } => return Err(ceremony_failure(error)),
            BridgeEvent::GateRefused { reason, .. } => return Err(Failure::new("JournalRefused", CeremonyError::Journal(reason), false)),
            BridgeEvent::GetRefused { .. } | BridgeEvent::MessageRefused { .. } => {}
        }
        Ok(())
    }
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Navigate { .. } => "navigate",
        Action::WaitFor { .. } => "wait_for",
        Action::Fill { .. } => "fill",
        Action::Click { .. } => "click",
        Action::Choose { .. } => "choose",
        Action::ExpectCreate { .. } => "expect_create",
    }
}

/// What a step acts on, for messages and the step log (no secret values).
pub fn describe(a: &Action, vars: &FlowVars) -> String {
    match a {
        Action::Navigate { url } => format!("load {}", super::page::strip_query(&vars.expand(url))),
        Action::WaitFor { any } => any
            .iter()
            .map(|c| {
                let mut parts = Vec::new();
                if !c.pgid.is_empty() {
                    parts.push(format!("page id {}", c.pgid.join("|")));
                }
                if let Some(u) = &c.url_prefix {
                    parts.push(format!("URL {}…", vars.expand(u)));
                }
                if let Some(s) = &c.selector {
                    parts.push(if c.text.is_empty() { format!("element {s}") } else { format!("element {s} with text {}", c.text.join("|")) });
                }
                parts.join(" + ")
            })
            .collect::<Vec<_>>()
            .join(" or "),
        Action::Fill { selector, value } => format!("type {} into {selector}", value.describe()),
        Action::Click { selector, text } if text.is_empty() => format!("click {selector}"),
        Action::Click { selector, text } => format!("click {selector} with text {}", text.join("|")),
        Action::Choose { combobox, option, value } => match value {
            Some(v) => format!("choose value {v} in {combobox}"),
            None => format!("choose {} in {combobox}", option.join("|")),
        },
        Action::ExpectCreate { .. } => "navigator.credentials.create".into(),
    }
}
