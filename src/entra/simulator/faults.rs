//! Fault injection: throttling (429 with or without `Retry-After`), 503, 504, added
//! latency and dropped connections, on Graph and on the authority endpoints, globally or per
//! path prefix.
//!
//! Decisions are deterministic: whether the n-th request matching rule i gets a fault is a
//! pure function of (seed, i, n), so a seeded run is reproducible whatever else happens
//! in between.
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Faults and the seed that makes them reproducible.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seed of the fault dice.
    pub seed: u64,
    /// Rules, evaluated in order for every request: every matching latency rule adds its
    /// delay, the first matching status/drop rule that fires decides the response.
    pub rules: Vec<FaultRule>,
}

impl FaultConfig {
    /// Check every rule.
    pub fn validate(&self) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            r.validate().map_err(|e| format!("fault rule {i}: {e}"))?;
        }
        Ok(())
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 Too Many Requests.
    Throttle,
    /// 503 Service Unavailable.
    Unavailable,
    /// 504 Gateway Timeout.
    GatewayTimeout,
    /// Delay the request by `millis`, then handle it normally.
    Latency,
    /// Close the connection without any response.
    Drop,
}

impl FaultKind {
    fn parse(s: &str) -> Option<FaultKind> {
        Some(match s {
            "throttle" | "429" => FaultKind::Throttle,
            "unavailable" | "503" => FaultKind::Unavailable,
            "gateway_timeout" | "gateway-timeout" | "504" => FaultKind::GatewayTimeout,
            "latency" | "delay" => FaultKind::Latency,
            "drop" => FaultKind::Drop,
            _ => return None,
        })
    }
}

/// One fault rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// What happens.
    pub kind: FaultKind,
    /// Which requests: `all` (Graph + authority), `graph`, `authority`, `token`,
    /// `devicecode`, `pages`, or a path prefix starting with `/` (e.g. `/v1.0/users`).
    #[serde(default = "default_target")]
    pub target: String,
    /// Only this HTTP method (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Probability (0–1) that a matching request gets the fault.
    #[serde(default = "one")]
    pub rate: f64,
    /// Let the first `skip` matching requests through untouched.
    #[serde(default)]
    pub skip: u32,
    /// Stop after injecting this many faults.
    #[serde(default)]
    pub times: Option<u32>,
    /// `Retry-After` seconds for 429/503 (absent when unset).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Probability that a 429/503 that would carry `Retry-After` omits it.
    #[serde(default)]
    pub retry_after_absent_rate: f64,
    /// 429 `error.code` values, used in turn [TooManyRequests, activityLimitReached].
    #[serde(default)]
    pub codes: Vec<String>,
    /// Latency in milliseconds (`latency` rules).
    #[serde(default)]
    pub millis: u64,
}

fn default_target() -> String {
    "all".into()
}
fn one() -> f64 {
    1.0
}

impl FaultRule {
    /// A rule of `kind` for `target` that always fires.
    pub fn new(kind: FaultKind, target: &str) -> FaultRule {
        FaultRule {
            kind,
            target: target.into(),
            method: None,
            rate: 1.0,
            skip: 0,
            times: None,
            retry_after_secs: None,
            retry_after_absent_rate: 0.0,
            codes: vec![],
            millis: 0,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.rate) || !(0.0..=1.0).contains(&self.retry_after_absent_rate) {
            return Err("rate and retry_after_absent_rate must be between 0 and 1".into());
        }
        let t = self.target.as_str();
        if !t.starts_with('/') && !matches!(t, "all" | "graph" | "authority" | "token" | "devicecode" | "pages") {
            return Err(format!("target {t:?} must be all, graph, authority, token, devicecode, pages or a path prefix starting with /"));
        }
        if self.kind == FaultKind::Latency && self.millis == 0 {
            return Err("a latency rule needs millis > 0".into());
        }
        if self.retry_after_secs.is_some() && !matches!(self.kind, FaultKind::Throttle | FaultKind::Unavailable) {
            return Err("retry_after_secs only applies to throttle and unavailable rules".into());
        }
        Ok(())
    }

    fn matches(&self, class: RequestClass, method: &str, path: &str) -> bool {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        match self.target.as_str() {
            "all" => matches!(class, RequestClass::Graph | RequestClass::Token | RequestClass::DeviceCode),
            "graph" => class == RequestClass::Graph,
            "authority" => matches!(class, RequestClass::Token | RequestClass::DeviceCode),
            "token" => class == RequestClass::Token,
            "devicecode" => class == RequestClass::DeviceCode,
            "pages" => class == RequestClass::Pages,
            prefix => class != RequestClass::Control && path.starts_with(prefix),
        }
    }
}

/// `--fault` syntax: `KIND[@TARGET][,key=value...]`, keys `rate`, `retry_after`,
/// `absent_rate`, `times`, `skip`, `millis`, `method`, `codes` (`A|B`). Examples:
/// `throttle@graph,rate=0.3,retry_after=2`, `drop@token,times=1`, `latency@all,millis=200`.
impl FromStr for FaultRule {
    type Err = String;
    fn from_str(spec: &str) -> Result<FaultRule, String> {
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or_default().trim();
        let (kind, target) = head.split_once('@').unwrap_or((head, "all"));
        let kind = FaultKind::parse(kind.trim())
            .ok_or_else(|| format!("fault {spec:?}: kind must be throttle, unavailable, gateway_timeout, latency or drop"))?;
        let mut rule = FaultRule::new(kind, target.trim());
        for kv in parts {
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("fault {spec:?}: {kv:?} is not key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let bad = |what: &str| format!("fault {spec:?}: {k} must be {what}");
            match k {
                "rate" => rule.rate = v.parse().map_err(|_| bad("a number between 0 and 1"))?,
                "retry_after" | "retry-after" => rule.retry_after_secs = Some(v.parse().map_err(|_| bad("whole seconds"))?),
                "absent_rate" | "absent-rate" => rule.retry_after_absent_rate = v.parse().map_err(|_| bad("a number between 0 and 1"))?,
                "times" => rule.times = Some(v.parse().map_err(|_| bad("a count"))?),
                "skip" => rule.skip = v.parse().map_err(|_| bad("a count"))?,
                "millis" | "ms" => rule.millis = v.parse().map_err(|_| bad("milliseconds"))?,
                "method" => rule.method = Some(v.to_ascii_uppercase()),
                "codes" => rule.codes = v.split('|').map(str::to_string).collect(),
                _ => return Err(format!("fault {spec:?}: unknown key {k:?} (rate, retry_after, absent_rate, times, skip, millis, method, codes)")),
            }
        }
        rule.validate().map_err(|e| format!("fault {spec:?}: {e}"))?;
        Ok(rule)
    }
}

/// Which part of the simulator a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestClass {
    /// `/v1.0/...`, `/beta/...`.
    Graph,
    /// `/{tenant}/oauth2/v2.0/token`.
    Token,
    /// `/{tenant}/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// `/_sim/...` (never faulted, never logged).
    Control,
    /// Browser pages and everything else.
    Pages,
}

impl RequestClass {
    /// Classify a request path.
    pub fn of(path: &str) -> RequestClass {
        if path.starts_with("/v1.0/") || path.starts_with("/beta/") || path == "/v1.0" || path == "/beta" {
            RequestClass::Graph
        } else if path.starts_with("/_sim/") || path == "/_sim" {
            RequestClass::Control
        } else if path.ends_with("/oauth2/v2.0/token") {
            RequestClass::Token
        } else if path.ends_with("/oauth2/v2.0/devicecode") {
            RequestClass::DeviceCode
        } else {
            RequestClass::Pages
        }
    }
}

/// The response a fault replaces the real one with.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this status (429/503/504), optional `Retry-After`, and error code.
    Respond { status: u16, retry_after: Option<u64>, code: String },
    /// Close the connection without answering.
    Drop,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultDecision {
    /// Delay before handling (or before faulting).
    pub delay_ms: u64,
    /// Replacement response, if any.
    pub action: Option<FaultAction>,
}

#[derive(Debug, Default, Clone)]
struct RuleCounter {
    matched: u64,
    injected: u64,
}

/// The live rule set and its counters.
#[derive(Debug, Default)]
pub struct FaultEngine {
    config: FaultConfig,
    counters: Vec<RuleCounter>,
}

impl FaultEngine {
    /// An engine for `config`, counters at zero.
    pub fn new(config: FaultConfig) -> FaultEngine {
        let counters = vec![RuleCounter::default(); config.rules.len()];
        FaultEngine { config, counters }
    }

    /// The current configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Injected-fault count per rule.
    pub fn injected(&self) -> Vec<u64> {
        self.counters.iter().map(|c| c.injected).collect()
    }

    /// Decide the fate of one request.
    pub fn decide(&mut self, class: RequestClass, method: &str, path: &str) -> FaultDecision {
        let mut decision = FaultDecision::default();
        if class == RequestClass::Control {
            return decision;
        }
        let seed = self.config.seed;
        for (i, rule) in self.config.rules.iter().enumerate() {
            let status_rule = rule.kind != FaultKind::Latency;
            if status_rule && decision.action.is_some() {
                continue;
            }
            if !rule.matches(class, method, path) {
                continue;
            }
            let counter = &mut self.counters[i];
            let n = counter.matched;
            counter.matched += 1;
            if n < u64::from(rule.skip) || rule.times.is_some_and(|t| counter.injected >= u64::from(t)) {
                continue;
            }
            if dice(seed, i as u64, n, 0) >= rule.rate {
                continue;
            }
            let k = counter.injected;
            counter.injected += 1;
            let retry_after = rule.retry_after_secs.filter(|_| dice(seed, i as u64, n, 1) >= rule.retry_after_absent_rate);
            match rule.kind {
                FaultKind::Latency => decision.delay_ms += rule.millis,
                FaultKind::Drop => decision.action = Some(FaultAction::Drop),
                FaultKind::Throttle => {
                    let code = if rule.codes.is_empty() {
                        ["TooManyRequests", "activityLimitReached"][(k % 2) as usize].to_string()
                    } else {
                        rule.codes[(k % rule.codes.len() as u64) as usize].clone()
                    };
                    decision.action = Some(FaultAction::Respond { status: 429, retry_after, code });
                }
                FaultKind::Unavailable => {
                    decision.action = Some(FaultAction::Respond { status: 503, retry_after, code: "serviceNotAvailable".into() })
                }
                FaultKind::GatewayTimeout => {
                    decision.action = Some(FaultAction::Respond { status: 504, retry_after: None, code: "gatewayTimeout".into() })
                }
            }
        }
        decision
    }
}

/// A uniform number in [0, 1) from (seed, rule, n, salt) — splitmix64 finalizer.
fn dice(seed: u64, rule: u64, n: u64, salt: u64) -> f64 {
    let mut z = seed
        ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03)
        ^ salt.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_strings_parse() {
        let r: FaultRule = "throttle@graph,rate=0.25,retry_after=3,codes=A|B,times=4".parse().unwrap();
        assert_eq!(r.kind, FaultKind::Throttle);
        assert_eq!(r.target, "graph");
        assert_eq!(r.retry_after_secs, Some(3));
        assert_eq!(r.codes, vec!["A", "B"]);
        assert!("explode@graph".parse::<FaultRule>().is_err());
        assert!("latency@all".parse::<FaultRule>().is_err());
        assert!("throttle@nowhere".parse::<FaultRule>().is_err());
    }

    #[test]
    fn same_seed_same_faults_and_rate_is_respected() {
        let mut rule = FaultRule::new(FaultKind::Throttle, "graph");
        rule.rate = 0.3;
        let cfg = FaultConfig { seed: 42, rules: vec![rule] };
        let run = || {
            let mut e = FaultEngine::new(cfg.clone());
            (0..2000).map(|_| e.decide(RequestClass::Graph, "GET", "/v1.0/users").action.is_some()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|b| **b).count();
        assert!((450..750).contains(&hits), "{hits} of 2000 at rate 0.3");
    }

    #[test]
    fn skip_times_and_code_rotation() {
        let mut rule = FaultRule::new(FaultKind::Throttle, "/v1.0/users");
        rule.skip = 1;
        rule.times = Some(2);
        rule.retry_after_secs = Some(1);
        let mut e = FaultEngine::new(FaultConfig { seed: 0, rules: vec![rule] });
        let got: Vec<_> = (0..4).map(|_| e.decide(RequestClass::Graph, "GET", "/v1.0/users/x").action).collect();
        assert_eq!(got[0], None);
        assert_eq!(got[1], Some(FaultAction::Respond { status: 429, retry_after: Some(1), code: "TooManyRequests".into() }));
        assert_eq!(got[2], Some(FaultAction::Respond { status: 429, retry_after: Some(1), code: "activityLimitReached".into() }));
        assert_eq!(got[3], None);
        assert_eq!(e.decide(RequestClass::Token, "POST", "/t/oauth2/v2.0/token"), FaultDecision::default());
    }
}
