//! A fleet in a test: the Entra simulator (in process), a throw-away PostgreSQL, and
//! station processes (`keystation --virtual 4 batch --queue q`), each with its own state
//! directory and name, sharing one journal.
#![allow(dead_code)]
use crate::postgres::Cluster;
use keystation::secret::SecretString;
use keystation::station::demo::{SimulatedTenant, SimulatedTenantOptions, BUILTIN_PILOT_USERS};
use keystation::station::journal::{JobRecord, Journal, PgSettings, QueueStatus};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Child;

pub const PASSWORD_ENV: &str = "KS_TEST_DB_PASSWORD";
pub const QUEUE: &str = "wave1";
/// Short leases keep the takeover tests quick; 7 s leaves Entra calls 2 s
/// (`network.timeout_seconds` must stay below a third of the lease).
pub const LEASE_S: u64 = 7;

pub struct Fleet {
    pub tenant: SimulatedTenant,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub password: String,
    pub users: Vec<String>,
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Fleet {
    /// A tenant with `users` fresh users, a database in `cluster`, the users loaded into
    /// the queue through `keystation queue load`.
    pub async fn new(cluster: &Cluster, users: usize) -> Fleet {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = SimulatedTenantOptions { users: BUILTIN_PILOT_USERS.len() + users, faults: Default::default(), attestation_enforced: false };
        let tenant = SimulatedTenant::start(options).await.expect("simulator starts");
        let users = tenant.users()[BUILTIN_PILOT_USERS.len()..].to_vec();
        let dir = tempfile::tempdir().unwrap();
        if std::env::var_os("KEYSTATION_KEEP_FLEET").is_some() {
            eprintln!("fleet test directory (kept): {}", dir.path().display());
            let _ = dir.path().to_path_buf();
        }
        let fleet = Fleet { tenant, dir, url: cluster.create_database("fleet"), password: cluster.password().to_string(), users };
        let csv = fleet.dir.path().join("users.csv");
        std::fs::write(&csv, format!("upn\n{}\n", fleet.users.join("\n"))).unwrap();
        let out = fleet.command("loader", 0).args(["queue", "load", QUEUE, csv.to_str().unwrap()]).output().await.unwrap();
        assert!(out.status.success(), "queue load: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        fleet
    }

    /// The state directory (and configuration) of station `name`.
    pub fn state_dir(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join(name);
        if !dir.join("keystation.toml").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let secret = self.tenant.write_secret(&dir).expect("secret");
            let ca = keystation::key::virtual_key::AttestationCa::load_or_create(&keystation::key::virtual_key::AttestationCa::default_dir(&dir)).expect("CA");
            self.tenant.sim.add_trusted_root(ca.certificate_pem()).expect("trust CA");
            // Station s3 reads the database password from a file only it can read, the
            // others from the environment: both ways a station gets its secret.
            let password = if name == "s3" {
                let file = dir.join("db-password");
                std::fs::write(&file, &self.password).unwrap();
                std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
                format!("password_file = \"{}\"", file.display())
            } else {
                format!("password_env = \"{PASSWORD_ENV}\"")
            };
            let extra = format!("[journal]\nurl = \"{}?sslmode=disable\"\n{password}\nlease_s = {LEASE_S}\nstation = \"{name}\"\n", self.url);
            std::fs::write(dir.join("keystation.toml"), self.tenant.config_toml(&secret, &extra)).unwrap();
        }
        dir
    }

    /// `keystation --config … --state-dir … --virtual N` as station `name`.
    pub fn command(&self, name: &str, virtual_keys: usize) -> tokio::process::Command {
        let dir = self.state_dir(name);
        let mut cmd = crate::keystation_cli::keystation(&dir.join("keystation.toml"), &dir, virtual_keys, None);
        if name != "s3" {
            cmd.env(PASSWORD_ENV, &self.password);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Start station `name` working the queue with 4 virtual keys at a time.
    pub fn station(&self, name: &str) -> Child {
        let dir = self.state_dir(name);
        let log = std::fs::File::create(dir.join("station.log")).unwrap();
        let err = log.try_clone().unwrap();
        self.command(name, 4).args(["--json", "batch", "--queue", QUEUE, "--concurrency", "4"]).stdout(log).stderr(err).spawn().expect("station starts")
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name).join("station.log")).unwrap_or_default()
    }

    pub fn journal(&self) -> Journal {
        let mut s = PgSettings::new(format!("{}?sslmode=disable", self.url));
        s.password = Some(SecretString::new(self.password.clone()));
        Journal::connect_postgres(s).expect("journal")
    }

    pub fn status(&self) -> QueueStatus {
        self.journal().queue_status(QUEUE).expect("status")
    }

    /// Wait until at least `n` users are done (or the deadline).
    pub async fn wait_done(&self, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let s = tokio::task::block_in_place(|| self.status());
            if s.counts.done >= n {
                return;
            }
            assert!(Instant::now() < deadline, "only {} of {n} users done after {within:?}: {s:?}", s.counts.done);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait for a station process to end by itself; its exit code.
    pub async fn wait(&self, name: &str, child: &mut Child, within: Duration) -> Option<i32> {
        match tokio::time::timeout(within, child.wait()).await {
            Ok(status) => status.unwrap().code(),
            Err(_) => {
                let _ = child.start_kill();
                panic!("station {name} did not finish within {within:?}; its log:\n{}", tail(&self.log(name)));
            }
        }
    }

    /// A user's FIDO2 methods in the simulator (ids).
    pub async fn methods(&self, upn: &str) -> Vec<String> {
        let url = self.tenant.sim.control_url().join(&format!("users/{}/fido2", encode(upn))).unwrap();
        let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let list = match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => match o.remove("value").or_else(|| o.remove("methods")) {
                Some(serde_json::Value::Array(a)) => a,
                other => panic!("unexpected /fido2 answer: {other:?}"),
            },
            other => panic!("unexpected /fido2 answer: {other}"),
        };
        list.iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect()
    }

    /// Every user ends with exactly one method, every queue item is done, and the shared
    /// journal equals the tenant: the methods it says the user still has (`live_methods`)
    /// are exactly the user's.
    pub async fn assert_exactly_once(&self) {
        let journal = tokio::task::block_in_place(|| self.journal());
        let status = journal.queue_status(QUEUE).unwrap();
        assert_eq!((status.counts.done + status.counts.parked, status.counts.pending, status.counts.running), (self.users.len() as u64, 0, 0), "{status:?}");
        // Parked only where a person must decide: a station stopped while showing the
        // slip (the PIN may have been seen), so the key stays registered.
        for item in journal.queue_items(QUEUE).unwrap().iter().filter(|i| i.state == "parked") {
            let note = item.note.clone().unwrap_or_default();
            assert!(note.contains("stopped while the PIN slip was shown") || note.contains("stopped before handing the PIN over"), "{} parked: {note}", item.upn);
        }
        let mut stations = std::collections::BTreeSet::new();
        for u in &self.users {
            let mut methods = self.methods(u).await;
            methods.sort();
            assert_eq!(methods.len(), 1, "{u} has {} methods: {methods:?}", methods.len());
            let jobs: Vec<JobRecord> = journal.jobs_for_user(u).unwrap();
            let mut claimed: Vec<String> = journal.live_methods(u).unwrap().into_iter().map(|m| m.method_id).collect();
            claimed.sort();
            assert_eq!(claimed, methods, "{u}: the journal claims {claimed:?}, Entra has {methods:?}; jobs: {jobs:#?}");
            assert!(jobs.iter().all(|j| !j.state.is_in_progress()), "{u}: a job is still open: {jobs:#?}");
            let last = jobs.iter().rev().find(|j| matches!(j.state, keystation::station::JobState::Done | keystation::station::JobState::NeedsOperator)).expect("a finished job");
            stations.insert(last.station.clone().unwrap_or_default());
            assert!(last.host.is_some(), "the host is recorded");
        }
        eprintln!("users done per station: {:?}", status.stations.iter().map(|s| (&s.name, s.done)).collect::<Vec<_>>());
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if std::env::var_os("KEYSTATION_KEEP_FLEET").is_some() {
            let keep = self.dir.path().with_extension("kept");
            let _ = std::fs::rename(self.dir.path(), &keep);
            eprintln!("fleet logs kept in {}", keep.display());
        }
    }
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

pub fn signal(child: &Child, sig: i32) {
    let pid = child.id().expect("running") as i32;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

pub fn state_path(p: &Path) -> String {
    p.display().to_string()
}
