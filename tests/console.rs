//! The web console (`keystation console`) end to end: its pages in a real headless
//! Chromium (Debian `chromium` + `chromium-driver`), against the Entra simulator and
//! virtual keys; its security rules over plain HTTP; the command itself as a process.
//!
//! One process, one Chromium for every scenario (starting a browser costs seconds; the
//! scenarios run one after another in it). Scenarios are plain async functions run by
//! the small runner below: `cargo test --test console [NAME-FILTER]`.
//!
//! Without Chromium the browser scenarios print a loud SKIPPED line and pass, unless
//! `KEYSTATION_REQUIRE_BROWSER` is set (`tests/run-all.sh` sets it), when they fail.
//! Screenshots of every page go to `target/console-artifacts/`.
#[allow(dead_code)]
#[path = "shared/browser_gate.rs"]
mod browser_gate;
#[path = "entra/logcapture.rs"]
mod logcapture;
#[path = "shared/keystation_cli.rs"]
mod keystation_cli;

mod console {
    pub mod support;
    pub mod cli;
    pub mod desk;
    pub mod hub;
    pub mod journal;
    pub mod security;
    pub mod sessions;
}

use console::support::{Scenario, Shared};
use std::io::Write;
use std::time::Instant;

fn scenarios() -> Vec<(&'static str, bool, Scenario)> {
    use console::*;
    vec![
        ("security::no_session_is_401", false, |s| Box::pin(security::no_session_is_401(s))),
        ("security::foreign_host_or_origin_is_refused", false, |s| Box::pin(security::foreign_host_or_origin_is_refused(s))),
        ("security::csrf_is_required", false, |s| Box::pin(security::csrf_is_required(s))),
        ("security::headers_on_every_answer", false, |s| Box::pin(security::headers_on_every_answer(s))),
        ("security::desk_lock_and_guessing", false, |s| Box::pin(security::desk_lock_and_guessing(s))),
        ("security::network_needs_tls_and_password", false, |s| Box::pin(security::network_needs_tls_and_password(s))),
        ("sessions::idle_and_lifetime_over_http", false, |s| Box::pin(sessions::idle_and_lifetime_over_http(s))),
        ("sessions::jobs_outlive_their_session", false, |s| Box::pin(sessions::jobs_outlive_their_session(s))),
        ("sessions::ended_session_in_the_browser", true, |s| Box::pin(sessions::ended_session_in_the_browser(s))),
        ("desk::good_user_random_pin", true, |s| Box::pin(desk::good_user_random_pin(s))),
        ("desk::good_user_chooses_pin", true, |s| Box::pin(desk::good_user_chooses_pin(s))),
        ("desk::unknown_user_refusal_stays", true, |s| Box::pin(desk::unknown_user_refusal_stays(s))),
        ("desk::user_outside_policy_refusal_stays", true, |s| Box::pin(desk::user_outside_policy_refusal_stays(s))),
        ("desk::key_pulled_mid_job", true, |s| Box::pin(desk::key_pulled_mid_job(s))),
        ("desk::operator_exit", true, |s| Box::pin(desk::operator_exit(s))),
        ("desk::exit_sequence_unlocks", true, |s| Box::pin(desk::exit_sequence_unlocks(s))),
        ("hub::sixteen_keys", true, |s| Box::pin(hub::sixteen_keys(s))),
        ("journal::search_timeline_export", true, |s| Box::pin(journal::search_timeline_export(s))),
        ("cli::console_command", false, |s| Box::pin(cli::console_command(s))),
        ("cli::console_refuses_a_network_address", false, |s| Box::pin(cli::console_refuses_a_network_address(s))),
        ("cli::demo_console", false, |s| Box::pin(cli::demo_console(s))),
    ]
}

fn main() {
    // `cargo test` passes harness flags (--nocapture, --test-threads …); the first
    // argument that is not a flag filters scenarios by name.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _, _) in scenarios() {
            println!("{name}: test");
        }
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let chosen: Vec<_> = scenarios().into_iter().filter(|(n, _, _)| filter.as_ref().is_none_or(|f| n.contains(f.as_str()))).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    let failed = runtime.block_on(async {
        let shared = Shared::start(chosen.iter().any(|(_, browser, _)| *browser)).await;
        let mut failed = Vec::new();
        for (name, needs_browser, scenario) in &chosen {
            if *needs_browser && shared.browser.is_none() {
                println!("test {name} ... skipped (no browser)");
                continue;
            }
            let t = Instant::now();
            let run = tokio::spawn(scenario(shared.clone()));
            match run.await {
                Ok(()) => println!("test {name} ... ok ({:.1} s)", t.elapsed().as_secs_f64()),
                Err(e) => {
                    let why = e.try_into_panic().ok().and_then(|p| p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))).unwrap_or_default();
                    println!("test {name} ... FAILED ({:.1} s): {why}", t.elapsed().as_secs_f64());
                    failed.push(*name);
                }
            }
            let _ = std::io::stdout().flush();
        }
        shared.close().await;
        failed
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.1} s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failures: {}", failed.join(", "));
        std::process::exit(101);
    }
}
