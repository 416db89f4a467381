//! A world for running `keystation` as an operator would: the Entra simulator in this
//! process (trusting the virtual keys' attestation CA), a configuration file pointing at
//! it, a state directory, a clean environment with its own HOME. Configuration, state
//! directory and virtual keys are passed through the environment, where every command
//! accepts them (on the command line, commands that do not use them refuse them).
#![allow(dead_code)]
use keystation::entra::simulator::seed::well_known;
use keystation::entra::simulator::{start, SimulatorConfig, SimulatorHandle};
use keystation::key::virtual_key::AttestationCa;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub const SECRET_ENV: &str = "KEYSTATION_TEST_SIM_SECRET";
pub const STATION_APP: &str = well_known::STATION_APP_ID;
pub const SECRET: &str = well_known::STATION_APP_SECRET;
pub const OPERATOR_APP: &str = well_known::OPERATOR_APP_ID;
pub const TENANT_ID: &str = well_known::TENANT_ID;

pub struct World {
    pub sim: SimulatorHandle,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        keystation::entra::tls::ensure_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let sim = start(SimulatorConfig { auto_approve_device_codes: true, ..SimulatorConfig::default() }).await.expect("simulator");
        let ca = AttestationCa::load_or_create(&AttestationCa::default_dir(&dir.path().join("state"))).unwrap();
        sim.add_trusted_root(ca.certificate_pem()).unwrap();
        let w = World { sim, dir };
        std::fs::create_dir_all(w.home().join("config")).unwrap();
        std::fs::write(w.config(), w.config_toml()).unwrap();
        w
    }

    pub fn host(&self) -> String {
        self.sim.authority_host().as_str().trim_end_matches('/').to_string()
    }

    pub fn config_toml(&self) -> String {
        format!(
            "[tenant]\nid = \"{TENANT_ID}\"\nclient_id = \"{STATION_APP}\"\nauthority_host = \"{h}\"\ngraph_host = \"{h}\"\n[tenant.sign_in]\nmethod = \"client-secret\"\nsecret_env = \"{SECRET_ENV}\"\n",
            h = self.host()
        )
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("keystation.toml")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `keystation ARGS` with the world's configuration and state, `keys` virtual keys
    /// (persistent in `key_state` when given), extra environment and standard input.
    pub fn command(&self, keys: Option<usize>, key_state: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env("XDG_STATE_HOME", self.home().join("state"))
            .env("RUST_BACKTRACE", "0")
            .env("KEYSTATION_CONFIG", self.config())
            .env("KEYSTATION_STATE_DIR", self.state())
            .env(SECRET_ENV, SECRET)
            .args(args)
            .kill_on_drop(true);
        if let Some(n) = keys {
            cmd.env("KEYSTATION_VIRTUAL", n.to_string());
        }
        if let Some(k) = key_state {
            cmd.env("KEYSTATION_VIRTUAL_STATE", k);
        }
        for var in ["KEYSTATION_CHROMIUM", "KEYSTATION_CHROMEDRIVER"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    pub async fn run(&self, keys: Option<usize>, key_state: Option<&Path>, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
        let mut cmd = self.command(keys, key_state, args, env);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("keystation starts");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        tokio::time::timeout(Duration::from_secs(240), child.wait_with_output()).await.expect("keystation finishes").expect("output")
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn show(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), text(&o.stdout), text(&o.stderr))
}

/// Every subcommand path of the real command line (`keys credentials delete`, …), leaves
/// and parents, from the library's clap definition.
pub fn command_paths() -> Vec<(String, bool)> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, bool)>) {
        let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| s.get_name() != "help").collect();
        out.push((path.to_string(), subs.is_empty()));
        for s in subs {
            let p = if path.is_empty() { s.get_name().to_string() } else { format!("{path} {}", s.get_name()) };
            walk(s, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(&keystation::cli::command(), "", &mut out);
    out
}
