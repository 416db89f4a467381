//! Shared by the test binaries that run `keystation` as a separate process the way an
//! operator would: a clean environment, a station configuration, a state directory and
//! in-process virtual keys.
use std::path::Path;

/// `keystation` with configuration C, state directory S and N virtual keys (persistent in
/// K when given), ready for the subcommand's arguments. They are passed as the
/// environment (`KEYSTATION_CONFIG`, `KEYSTATION_STATE_DIR`, `KEYSTATION_VIRTUAL`,
/// `KEYSTATION_VIRTUAL_STATE`), which applies to the commands that use them, where the
/// same options on the command line are refused by commands that do not (docs/json.md,
/// "options that apply"). The rest of the environment is cleared except `PATH` and the
/// browser locations (`KEYSTATION_CHROMIUM`, `KEYSTATION_CHROMEDRIVER`) when set, so
/// that nothing from the developer's shell (a real tenant's config, `RUST_LOG`) leaks
/// into a test.
pub fn keystation(config: &Path, state_dir: &Path, virtual_keys: usize, virtual_state: Option<&Path>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_BACKTRACE", "0")
        .env("KEYSTATION_CONFIG", config)
        .env("KEYSTATION_STATE_DIR", state_dir)
        .env("KEYSTATION_VIRTUAL", virtual_keys.to_string());
    if let Some(dir) = virtual_state {
        cmd.env("KEYSTATION_VIRTUAL_STATE", dir);
    }
    for var in ["KEYSTATION_CHROMIUM", "KEYSTATION_CHROMEDRIVER"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.kill_on_drop(true);
    cmd
}
