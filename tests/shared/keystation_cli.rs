//! Shared by the test binaries that run `keystation` as a separate process the way an
//! operator would: a clean environment, a station configuration, a state directory and
//! in-process virtual keys.
use std::path::Path;

/// `keystation --config C --state-dir S --virtual N [--virtual-state K]`, ready for the
/// subcommand's arguments. The environment is cleared except `PATH` and the browser
/// locations (`KEYSTATION_CHROMIUM`, `KEYSTATION_CHROMEDRIVER`) when set, so that nothing
/// from the developer's shell (a real tenant's config, `RUST_LOG`) leaks into a test.
pub fn keystation(config: &Path, state_dir: &Path, virtual_keys: usize, virtual_state: Option<&Path>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keystation"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_BACKTRACE", "0")
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--virtual")
        .arg(virtual_keys.to_string());
    if let Some(dir) = virtual_state {
        cmd.arg("--virtual-state").arg(dir);
    }
    for var in ["KEYSTATION_CHROMIUM", "KEYSTATION_CHROMEDRIVER"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.kill_on_drop(true);
    cmd
}
