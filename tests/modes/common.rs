//! Shared set-up for the modes' tests: a simulated tenant (the library's
//! `station::demo::SimulatedTenant`), a state directory, a hub of virtual keys, an event
//! recorder that is also the batch's sink, and a test "operator" that plugs blank keys
//! into the hub and takes finished ones out.
#![allow(dead_code)]
use keystation::entra::simulator::FaultConfig;
use keystation::key::sources::KeySources;
use keystation::key::virtual_key::{Touch, VirtualHub};
use keystation::station::batch::{BatchEvent, BatchNotice, BatchObserver, BatchSink, Handover};
use keystation::station::config::ConfigOverrides;
use keystation::station::demo::{SimulatedTenant, SimulatedTenantOptions, BUILTIN_PILOT_USERS};
use keystation::station::journal::{JobRecord, Journal};
use keystation::station::pipeline::{Station, StationSetup};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// A simulated tenant, a state directory and a hub.
pub struct World {
    pub tenant: SimulatedTenant,
    pub dir: tempfile::TempDir,
    pub hub: VirtualHub,
}

impl World {
    /// A tenant with `extra` generated users (besides the built-in pilot users) and faults.
    pub async fn new(extra: usize, faults: FaultConfig) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = SimulatedTenantOptions { users: BUILTIN_PILOT_USERS.len() + extra, faults, attestation_enforced: false };
        let tenant = SimulatedTenant::start(options).await.expect("simulator starts");
        World { tenant, dir: tempfile::tempdir().expect("tempdir"), hub: VirtualHub::new() }
    }

    /// The generated users (no method registered before the test).
    pub fn fresh_users(&self) -> Vec<String> {
        self.tenant.users()[BUILTIN_PILOT_USERS.len()..].to_vec()
    }

    pub fn sources(&self) -> KeySources {
        KeySources::virtual_hub(self.hub.clone())
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A station on this world's state dir and hub.
    pub async fn station(&self, extra: &ConfigOverrides, adjust: impl FnOnce(&mut StationSetup)) -> Arc<Station> {
        self.tenant.open_station(self.state_dir(), extra, Some(self.sources()), adjust).await.expect("station opens")
    }

    /// Write a batch file in the state dir.
    pub fn batch_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.state_dir().join(name);
        std::fs::write(&path, text).expect("write batch file");
        path
    }

    /// The simulator's view of a user's FIDO2 methods (`/_sim/users/{u}/fido2`).
    pub async fn sim_methods(&self, upn: &str) -> Vec<serde_json::Value> {
        let url = self.tenant.sim.control_url().join(&format!("users/{}/fido2", encode(upn))).expect("url");
        let resp = reqwest::get(url).await.expect("control call");
        assert!(resp.status().is_success(), "{upn}: {}", resp.status());
        let v: serde_json::Value = resp.json().await.expect("json");
        match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => match o.remove("value").or_else(|| o.remove("methods")) {
                Some(serde_json::Value::Array(a)) => a,
                other => panic!("unexpected /fido2 answer: {other:?}"),
            },
            other => panic!("unexpected /fido2 answer: {other}"),
        }
    }

    /// Faults injected so far, per rule (`GET /_sim/faults`).
    pub async fn injected_faults(&self) -> u64 {
        let url = self.tenant.sim.control_url().join("faults").expect("url");
        let v: serde_json::Value = reqwest::get(url).await.expect("faults").json().await.expect("json");
        v["injected"].as_array().map(|a| a.iter().filter_map(|n| n.as_u64()).sum()).unwrap_or(0)
    }

    /// Every job in the journal.
    pub fn jobs(&self) -> Vec<JobRecord> {
        let j = Journal::open_existing(self.state_dir().join("journal.sqlite")).expect("journal");
        j.query(&Default::default()).expect("query")
    }
}

fn encode(s: &str) -> String {
    s.replace('\'', "%27").replace('#', "%23").replace('$', "%24")
}

/// Records every batch event, forwards notices to the operator, counts slips.
pub struct Recorder {
    pub events: Mutex<Vec<BatchEvent>>,
    pub slips: Mutex<Vec<String>>,
    tx: UnboundedSender<BatchNotice>,
}

impl Recorder {
    pub fn new() -> (Arc<Recorder>, UnboundedReceiver<BatchNotice>) {
        let (tx, rx) = unbounded_channel();
        (Arc::new(Recorder { events: Mutex::new(Vec::new()), slips: Mutex::new(Vec::new()), tx }), rx)
    }

    pub fn notices(&self) -> Vec<BatchNotice> {
        self.events.lock().unwrap().iter().filter_map(|e| if let BatchEvent::Batch(n) = e { Some(n.clone()) } else { None }).collect()
    }

    /// The most jobs that ran at the same time (assigned and not finished).
    pub fn max_concurrent(&self) -> usize {
        let (mut now, mut max) = (0usize, 0usize);
        for n in self.notices() {
            match n {
                BatchNotice::UserAssigned { .. } => {
                    now += 1;
                    max = max.max(now);
                }
                BatchNotice::UserFinished { .. } => now -= 1,
                _ => {}
            }
        }
        max
    }
}

impl BatchObserver for Recorder {
    fn event(&self, e: &BatchEvent) {
        self.events.lock().unwrap().push(e.clone());
        if let BatchEvent::Batch(n) = e {
            let _ = self.tx.send(n.clone());
        }
    }
}

impl BatchSink for Recorder {
    fn handover(&self, handover: Handover) {
        // Rendered to prove a slip with a PIN arrived; only the user is kept.
        let text = handover.slip.render();
        assert!(text.expose().contains("PIN"), "a slip shows the PIN");
        self.slips.lock().unwrap().push(handover.upn);
    }
}

/// The test's hands at the hub: plugs `at_once` blank keys, then after every
/// "remove the key" (or refused key) takes that key out and plugs a fresh one, as long as
/// `budget` keys remain; a key pulled out by someone else frees a slot too. Returns the
/// number of keys plugged when the batch finishes.
pub fn spawn_operator(world: &World, mut notices: UnboundedReceiver<BatchNotice>, at_once: usize, mut budget: usize) -> tokio::task::JoinHandle<usize> {
    let hub = world.hub.clone();
    let ca = world.tenant.ca.clone();
    let make = move || {
        keystation::key::virtual_key::VirtualKey::try_new(keystation::key::virtual_key::VirtualKeyConfig {
            touch: Touch::Instant,
            attestation: keystation::key::virtual_key::VirtualAttestation::Batch(ca.clone()),
            ..Default::default()
        })
        .expect("virtual key")
    };
    let mut plugged = 0;
    for _ in 0..at_once.min(budget) {
        hub.plug(make());
        budget -= 1;
        plugged += 1;
    }
    tokio::spawn(async move {
        let mut taken_out = std::collections::HashSet::new();
        while let Some(n) = notices.recv().await {
            let freed = match n {
                BatchNotice::TakeKeyOut { key, .. } | BatchNotice::KeyRefused { key, .. } => {
                    hub.remove(&key);
                    taken_out.insert(key);
                    true
                }
                BatchNotice::KeyRemoved { key } => !taken_out.contains(&key),
                BatchNotice::BatchFinished { .. } => break,
                _ => false,
            };
            if freed && budget > 0 {
                hub.plug(make());
                budget -= 1;
                plugged += 1;
            }
        }
        plugged
    })
}

/// A CSV with a `upn` header and these users.
pub fn csv(users: &[String]) -> String {
    let mut s = String::from("upn\n");
    for u in users {
        s.push_str(u);
        s.push('\n');
    }
    s
}

/// A fault configuration from JSON rules.
pub fn faults(seed: u64, rules: serde_json::Value) -> FaultConfig {
    serde_json::from_value(serde_json::json!({"seed": seed, "rules": rules})).expect("fault rules")
}
