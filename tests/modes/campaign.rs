//! The crash campaign of issue 10's "Done means": real `keystation --virtual N
//! --virtual-state K --json batch` processes on one state directory, against a simulator
//! that answers 30 % of Graph calls with 429 or 503, over seeded rounds. Each round starts a
//! batch, starts a second station on the same state directory (refused with exit 9), and
//! then either kills the batch with SIGKILL at a seeded point of its event stream or presses
//! Ctrl-C (SIGINT) when the stream reaches the next step in turn. A last run with the faults still on must
//! finish everything. Then: every user has exactly one FIDO2 method, the report's live jobs
//! are exactly the tenant's methods, and nothing is parked that a retry could finish.
//!
//! CI runs 8 kill -9 rounds and a Ctrl-C at each of the 6 steps. The full campaign of the
//! issue is `KEYSTATION_CAMPAIGN_KILLS=200 KEYSTATION_CAMPAIGN_INTERRUPTS=24 cargo test
//! --test modes campaign -- --nocapture` (200 kill -9 points, Ctrl-C at every step four
//! times). `KEYSTATION_CAMPAIGN_SEED` replays another seed; `KEYSTATION_CAMPAIGN_VERBOSE=1`
//! prints each round.
use super::cli::{stderr, stdout, CliWorld};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// The steps a Ctrl-C is aimed at, in turn (a step a round never reaches is a Ctrl-C at
/// the end of the batch instead).
const STEPS: [&str; 6] = ["inspect", "set_pin", "register", "verify", "handover", "reconcile"];

/// A round whose step has not come within this time (e.g. `reconcile` with nothing to
/// resume) presses Ctrl-C at the next step that starts instead, so rounds stay short.
const STEP_PATIENCE: Duration = Duration::from_secs(4);

/// A kill -9 comes after one of the first this many lines of a run's event stream.
const KILL_EVENTS: usize = 40;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// 30 % of Graph calls fail with a retryable status, alternating 429 and 503 by round.
fn graph_faults(round: u64) -> keystation::entra::simulator::FaultConfig {
    let kind = if round % 2 == 0 { "throttle" } else { "unavailable" };
    // `Retry-After: 0` keeps the retries quick: a key with a PIN from an interrupted job is
    // reset, which a key allows only within 10 s of being plugged in, and a `--virtual`
    // key cannot be plugged in again (the station would wait 60 s for it, then give up).
    super::common::faults(round + 1, serde_json::json!([{ "kind": kind, "target": "graph", "rate": 0.3, "retry_after_secs": 0 }]))
}

/// A batch run on the persistent keys in `keys`. A key that finished a user stays refused
/// for the rest of the batch ("already enrolled"), so every run gets three new blank keys
/// (`key-<i>.store` files that do not exist yet) besides the ones of earlier runs, which
/// include any key an interrupted job was using.
fn batch(cw: &CliWorld, keys: &Path, file: &Path) -> tokio::process::Child {
    let used = std::fs::read_dir(keys)
        .map(|d| d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".store")).count())
        .unwrap_or(0);
    let mut cmd = crate::keystation_cli::keystation(&cw.config, cw.world.state_dir(), used + KEYS, Some(keys));
    // Every key starts at once (none waits out its reset window in the queue).
    let concurrency = (used + KEYS).min(32).to_string();
    cmd.args(["--json", "batch", "--concurrency", &concurrency, file.to_str().unwrap()]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("keystation starts")
}

const KEYS: usize = 3;

fn signal(child: &tokio::process::Child, sig: i32) {
    let pid = child.id().expect("still running") as i32;
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "signal {sig} to {pid}");
}

/// How a round ended: "kill", "int:<step>" or "int:end" (the batch ended first), and its code.
#[derive(Debug, Default)]
struct Tally {
    interrupts: usize,
    ends: BTreeMap<String, usize>,
    codes: BTreeMap<String, usize>,
    refused_second: usize,
    second_alone: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_campaign_ends_with_one_method_per_user_and_the_journal_equal_to_the_tenant() {
    let kills = env_u64("KEYSTATION_CAMPAIGN_KILLS", 8);
    let interrupts = env_u64("KEYSTATION_CAMPAIGN_INTERRUPTS", STEPS.len() as u64);
    let seed = env_u64("KEYSTATION_CAMPAIGN_SEED", 20261207);
    let verbose = std::env::var_os("KEYSTATION_CAMPAIGN_VERBOSE").is_some();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // The rounds: `kills` kill -9 rounds and `interrupts` Ctrl-C rounds (at each step in
    // turn), in a seeded order.
    let rounds = kills + interrupts;
    let mut schedule: Vec<bool> = (0..rounds).map(|r| r < kills).collect();
    schedule.shuffle(&mut rng);
    // Three new keys per run bound each round's progress (a run that is not stopped
    // provisions three users, more with the keys of interrupted jobs, and exits 7, out of
    // keys); three users per round keep every round busy.
    let n_users = (4 + 3 * rounds) as usize;
    let cw = CliWorld::new(n_users, "").await;
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("campaign.csv", &super::common::csv(&users));
    let keys = tempfile::tempdir().expect("key dir");
    let started = Instant::now();
    let mut tally = Tally::default();

    let mut injected = 0;
    for round in 0..rounds {
        injected += cw.world.injected_faults().await;
        cw.world.tenant.sim.set_faults(graph_faults(round)).unwrap();
        let mut a = batch(&cw, keys.path(), &file);
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let out = a.stdout.take().unwrap();
        let err = a.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(l)) = r.next_line().await {
                let _ = tx.send(l);
            }
        });
        let err_text = tokio::spawn(async move {
            let mut s = String::new();
            let mut r = tokio::io::BufReader::new(err).lines();
            while let Ok(Some(l)) = r.next_line().await {
                s.push_str(&l);
                s.push('\n');
            }
            s
        });
        let mut seen = String::new();
        // The batch holds the state directory once it speaks; a second station is refused.
        let first = tokio::time::timeout(Duration::from_secs(60), lines.recv()).await.expect("the batch speaks within 60 s");
        if let Some(l) = first {
            seen.push_str(&l);
            seen.push('\n');
            let second = cw.run_env(KEYS, &["--json", "batch", file.to_str().unwrap()], &[]).await;
            // While the first still runs, the second is refused with 9 (one station per
            // state directory). Only when the first had already ended (nothing left to do)
            // may the second run by itself.
            let idle = serde_json::from_str::<serde_json::Value>(&l).is_ok_and(|v| v["to_do"] == 0 && v["resuming"] == 0);
            if !idle && a.try_wait().unwrap().is_none() {
                assert_eq!(second.status.code(), Some(9), "round {round}: a second station on the same state directory\n{seen}\n---\n{}{}", stdout(&second), stderr(&second));
                tally.refused_second += 1;
            } else if second.status.code() == Some(9) {
                tally.refused_second += 1;
            } else {
                assert!(matches!(second.status.code(), Some(0 | 7)), "round {round}: the second station alone\n{}{}", stdout(&second), stderr(&second));
                tally.second_alone += 1;
            }
        }
        let end;
        if schedule[round as usize] {
            // kill -9 at a seeded moment: right after a seeded event of its stream (the
            // steps' starts and ends, keys, users), plus a seeded few milliseconds, so the
            // kills land all over the pipeline, not only after a quick run has ended.
            let nth = rng.gen_range(1..=KILL_EVENTS);
            let extra = Duration::from_millis(rng.gen_range(0..30));
            let mut count = seen.lines().count();
            while count < nth {
                match tokio::time::timeout(Duration::from_secs(120), lines.recv()).await {
                    Ok(Some(l)) => {
                        seen.push_str(&l);
                        seen.push('\n');
                        count += 1;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            tokio::time::sleep(extra).await;
            let running = a.try_wait().unwrap().is_none();
            if running {
                signal(&a, libc::SIGKILL);
            }
            end = if running { "kill".to_string() } else { "kill:ended".to_string() };
        } else {
            // Ctrl-C at each step in turn.
            let step = STEPS[tally.interrupts % STEPS.len()];
            tally.interrupts += 1;
            let mut reached = None;
            let t = Instant::now();
            while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(120), lines.recv()).await {
                seen.push_str(&l);
                seen.push('\n');
                let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
                if v["event"] == "step_started" && (v["step"] == step || t.elapsed() > STEP_PATIENCE) {
                    reached = v["step"].as_str().map(str::to_string);
                    break;
                }
            }
            if reached.is_some() {
                signal(&a, libc::SIGINT);
            }
            end = reached.map_or("int:end".to_string(), |s| format!("int:{s}"));
        }
        let status = tokio::time::timeout(Duration::from_secs(120), a.wait()).await.expect("the batch stops within 120 s").unwrap();
        while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(5), lines.recv()).await {
            seen.push_str(&l);
            seen.push('\n');
        }
        let err = err_text.await.unwrap_or_default();
        let code = status.code();
        // Documented ends: killed (no code); Ctrl-C is 10; a batch that ran to its end
        // before the signal is 0, or 7 when its three keys were used up with users left.
        let allowed: &[Option<i32>] = match end.as_str() {
            "kill" => &[None, Some(0), Some(7), Some(8)],
            "kill:ended" | "int:end" => &[Some(0), Some(7), Some(8)],
            _ => &[Some(10), Some(0), Some(7), Some(8)],
        };
        // 8 (needs an operator) only for what the end check allows: a cut-off slip.
        assert!(allowed.contains(&code), "round {round} ({end}): exit {code:?}\n{seen}\n{err}");
        assert!(!seen.contains("panicked") && !err.contains("panicked"), "round {round}: {err}");
        if verbose {
            eprintln!("round {round}: {end}, exit {code:?}, {} events", seen.lines().count());
        }
        *tally.ends.entry(end).or_default() += 1;
        *tally.codes.entry(code.map_or("signal".into(), |c| c.to_string())).or_default() += 1;
    }

    // The last run, faults still on: retries finish what the rounds left.
    // Each run has three keys, so it takes as many runs as the users left need; every run
    // must make progress, the last one ends the list.
    injected += cw.world.injected_faults().await;
    cw.world.tenant.sim.set_faults(graph_faults(rounds)).unwrap();
    let mut last_runs = 0;
    let last = loop {
        last_runs += 1;
        let run = batch(&cw, keys.path(), &file);
        let out = tokio::time::timeout(Duration::from_secs(300), run.wait_with_output()).await.expect("a last run finishes").unwrap();
        let report = crate::json_output::events(&out.stdout).last().map(|e| e["report"].clone()).unwrap_or_default();
        let not_started = report["counts"]["not_started"].as_u64().unwrap_or(0);
        // 7: out of keys with users left; 8 when a parked job is also on the list (a
        // cut-off slip), which outranks it.
        if !matches!(out.status.code(), Some(7 | 8)) || not_started == 0 {
            break out;
        }
        assert!(last_runs <= users.len().div_ceil(KEYS) + 1, "the last runs make no progress\n{}\n{}", stdout(&out), stderr(&out));
    };
    let parked = cw.run(0, &["--json", "jobs", "list", "--parked"], "").await;
    let parked = crate::json_output::result(&parked.stdout).as_array().cloned().unwrap_or_default();
    // Only a handover cut off mid-slip may stay parked: the station cannot know whether the
    // user saw the PIN (it is shown once), so a person must ask. Everything else a retry
    // finishes, so anything else parked fails the campaign.
    for p in &parked {
        assert_eq!(p["why"], "handover_interrupted", "parked although a retry could finish it: {p}");
    }
    let expect: &[i32] = if parked.is_empty() { &[0] } else { &[0, 7, 8] };
    assert!(last.status.code().is_some_and(|c| expect.contains(&c)), "the last run\n{}\n{}", stdout(&last), stderr(&last));

    // Every user has exactly one method, and the journal's live jobs are exactly them.
    let mut tenant = BTreeSet::new();
    for u in &users {
        let methods = cw.world.sim_methods(u).await;
        if methods.len() != 1 {
            // What the journal knows of the user, for whoever reads the failure.
            let mut story = String::new();
            for j in cw.world.jobs().iter().filter(|j| j.user.upn.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u))) {
                let shown = cw.run(0, &["--json", "jobs", "show", &j.id.0.to_string()], "").await;
                story.push_str(&stdout(&shown));
                story.push('\n');
            }
            panic!("{u} has {} methods: {methods:?}\n{story}", methods.len());
        }
        tenant.insert((u.to_lowercase(), methods[0]["id"].as_str().expect("method id").to_string()));
    }
    let report = cw.run(0, &["report", "--json"], "").await;
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let journal: BTreeSet<(String, String)> = crate::json_output::result(&report.stdout)
        .as_array()
        .expect("report rows")
        .iter()
        .filter(|r| matches!(r["state"].as_str(), Some("done" | "needs_operator" | "handed_over")))
        .filter_map(|r| Some((r["user_upn"].as_str()?.to_lowercase(), r["entra_method_id"].as_str()?.to_string())))
        .collect();
    assert_eq!(journal, tenant, "the journal's live jobs and the tenant's methods differ");
    let unfinished = cw.run(0, &["report", "--json", "--state", "unfinished"], "").await;
    assert_eq!(crate::json_output::result(&unfinished.stdout), serde_json::json!([]), "nothing left unfinished");
    eprintln!(
        "campaign: seed {seed}, {rounds} rounds, {} users, {last_runs} last run(s), {:.1} s; ends {:?}; codes {:?}; second station refused {} (ran alone after the first had ended: {}); faults injected {}; parked {}",
        users.len(),
        started.elapsed().as_secs_f64(),
        tally.ends,
        tally.codes,
        tally.refused_second,
        tally.second_alone,
        injected + cw.world.injected_faults().await,
        parked.len()
    );
}
