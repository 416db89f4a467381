//! Running `keystation` as a process against the in-process simulator: a configuration
//! file pointing at it, a state directory whose virtual-key CA the simulator trusts, and
//! `--virtual N` keys.
#![allow(dead_code)]
use super::common::World;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use tokio::io::AsyncWriteExt;

/// A world plus the files a `keystation` process needs.
pub struct CliWorld {
    pub world: World,
    pub config: PathBuf,
}

impl CliWorld {
    /// `extra` is appended to the configuration file (TOML).
    pub async fn new(users: usize, extra: &str) -> CliWorld {
        let world = World::new(users, Default::default()).await;
        let state = world.state_dir();
        let secret = world.tenant.write_secret(state).expect("secret file");
        // The CA `--virtual` keys use lives in the state dir; the simulator trusts it.
        let ca = keystation::key::virtual_key::AttestationCa::load_or_create(&keystation::key::virtual_key::AttestationCa::default_dir(state)).expect("CA");
        world.tenant.sim.add_trusted_root(ca.certificate_pem()).expect("trust CA");
        let config = state.join("keystation.toml");
        std::fs::write(&config, world.tenant.config_toml(&secret, extra)).expect("config");
        CliWorld { world, config }
    }

    /// Run `keystation --config C --state-dir S --virtual N <args>` with `stdin`.
    pub async fn run(&self, virtual_keys: usize, args: &[&str], stdin: &str) -> Output {
        self.run_with(virtual_keys, args, stdin, &[]).await
    }

    /// [`CliWorld::run`] with extra environment variables and no input.
    pub async fn run_env(&self, virtual_keys: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_with(virtual_keys, args, "", env).await
    }

    async fn run_with(&self, virtual_keys: usize, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = crate::keystation_cli::keystation(&self.config, self.world.state_dir(), virtual_keys, None);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("keystation starts");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).await.expect("write stdin");
        drop(input);
        tokio::time::timeout(std::time::Duration::from_secs(240), child.wait_with_output()).await.expect("keystation finishes").expect("output")
    }
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The event lines on standard output (before the envelope), each checked against the
/// `--json` contract (docs/json.md).
pub fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    crate::json_output::events(&o.stdout)
}

/// The `--json` envelope (the last line), checked.
pub fn json_envelope(o: &Output) -> serde_json::Value {
    crate::json_output::envelope(&o.stdout)
}
