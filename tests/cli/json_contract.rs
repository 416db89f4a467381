//! Every command's `--json` output against docs/json.md: each command of the real
//! command line is run at least once (successes, and the error envelope of a usage
//! error), and what it printed is checked against the command's documented schema.
//! A command without a schema, or without a run here, fails the test.
use super::schema;
use super::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Output;

/// What each command printed, by command path.
#[derive(Default)]
struct Seen(BTreeMap<String, Vec<(Vec<String>, Output)>>);

impl Seen {
    fn add(&mut self, path: &str, args: &[&str], out: Output) -> Value {
        let env = crate::json_output::envelope(&out.stdout);
        assert_eq!(env["command"], path, "{}", show(&out));
        if let Ok(dir) = std::env::var("KS_JSON_DUMP") {
            let n = self.0.get(path).map(Vec::len).unwrap_or(0);
            std::fs::write(format!("{dir}/{}-{n}.json", path.replace(' ', "_")), &out.stdout).unwrap();
        }
        self.0.entry(path.to_string()).or_default().push((args.iter().map(|a| a.to_string()).collect(), out));
        env
    }
}

async fn json(w: &World, seen: &mut Seen, path: &str, keys: Option<usize>, key_state: Option<&std::path::Path>, args: &[&str], stdin: &str) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = w.run(keys, key_state, &all, &[], stdin).await;
    seen.add(path, args, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_keeps_the_json_contract() {
    let w = World::new().await;
    let mut seen = Seen::default();
    let keys_a = w.path("keys-a");
    let keys_b = w.path("keys-b");
    let ok = |env: &Value| assert_eq!(env["ok"], true, "{env}");

    // keys
    ok(&json(&w, &mut seen, "keys list", Some(2), None, &["keys", "list"], "").await);
    ok(&json(&w, &mut seen, "keys info", Some(1), None, &["keys", "info"], "").await);
    ok(&json(&w, &mut seen, "keys watch", Some(1), None, &["keys", "watch", "--max-events", "1"], "").await);
    ok(&json(&w, &mut seen, "keys set-pin", Some(1), Some(&keys_a), &["keys", "set-pin", "--new-pin-stdin"], "123456\n").await);
    ok(&json(&w, &mut seen, "keys change-pin", Some(1), Some(&keys_a), &["keys", "change-pin", "--pin-stdin", "--new-pin-stdin"], "123456\n654321\n").await);
    ok(&json(&w, &mut seen, "keys config", Some(1), Some(&keys_a), &["keys", "config", "--min-pin-length", "6", "--pin-stdin"], "654321\n").await);
    ok(&json(&w, &mut seen, "keys reset", Some(1), None, &["keys", "reset", "--yes"], "").await);
    // A key with a passkey: enrolled through the station (its PIN comes back in the JSON).
    let enrolled = json(&w, &mut seen, "enroll", Some(1), Some(&keys_b), &["enroll", "--user", "alice@contoso.test", "--wait", "10", "--show-pin-in-json"], "").await;
    ok(&enrolled);
    let pin = format!("{}\n", enrolled["result"]["handover"]["pin"].as_str().expect("the PIN in the JSON"));
    let listed = json(&w, &mut seen, "keys credentials list", Some(1), Some(&keys_b), &["keys", "credentials", "list", "--pin-stdin"], &pin).await;
    ok(&listed);
    assert_eq!(listed["result"]["credentials"][0]["credential_id"], enrolled["result"]["credential_id"], "one credential id format: the key's listing and the enrollment agree");
    ok(&json(&w, &mut seen, "keys credentials delete", Some(1), Some(&keys_b), &["keys", "credentials", "delete", "--rp", "login.microsoft.com", "--yes", "--pin-stdin"], &pin).await);

    // the desk: a user's keys in Entra, and the returned key re-imaged (the journal knows
    // its enrollment by serial: alice's method is deleted, the key reset)
    ok(&json(&w, &mut seen, "users show", None, None, &["users", "show", "alice@contoso.test"], "").await);
    let alice = json(&w, &mut seen, "methods list", None, None, &["methods", "list", "--user", "alice@contoso.test"], "").await;
    assert_eq!(alice["result"]["methods"].as_array().map(Vec::len), Some(1), "{alice}");
    let dry = json(&w, &mut seen, "reimage", Some(1), Some(&keys_b), &["reimage", "--dry-run"], "").await;
    assert_eq!(dry["result"]["dry_run"], true, "{dry}");
    let reimaged = json(&w, &mut seen, "reimage", Some(1), Some(&keys_b), &["reimage", "--yes"], "").await;
    ok(&reimaged);
    assert_eq!(reimaged["result"]["outcome"]["deletions"][0]["method_id"], alice["result"]["methods"][0]["id"], "{reimaged}");

    // a signed deeplink, its key named by KEYSTATION_DEEPLINK_KEY_ENV (docs/deeplinks.md)
    let link_key = "json-contract-deeplink-key-0123456789abcdef";
    let signer = keystation::station::deeplink::DeeplinkKey::new(link_key).unwrap();
    let link = keystation::station::deeplink::make_link(&signer, "conor.o'brien@contoso.test", None, None, chrono::Utc::now().timestamp() + 600).unwrap();
    let link_env = [("KEYSTATION_DEEPLINK_KEY_ENV", "KS_TEST_LINK_KEY"), ("KS_TEST_LINK_KEY", link_key)];
    let open_args = ["open", link.as_str(), "--wait", "10", "--show-pin-in-json"];
    let out = w.run(Some(1), None, &[&["--json"][..], &open_args[..]].concat(), &link_env, "").await;
    let opened = seen.add("open", &open_args, out);
    ok(&opened);
    assert_eq!(opened["result"]["user"]["upn"], "conor.o'brien@contoso.test", "{opened}");
    let out = w.run(Some(1), None, &[&["--json"][..], &open_args[..]].concat(), &link_env, "").await;
    let replayed = seen.add("open", &open_args, out);
    assert_eq!((replayed["exit_code"].as_u64(), replayed["error"]["kind"].as_str()), (Some(2), Some("usage")), "the same link twice: {replayed}");
    // `deeplink sign` with the same key makes a link `open` accepts; the handler lives
    // under a temporary XDG_DATA_HOME.
    let sign_args = ["deeplink", "sign", "--user", "conor.o'brien@contoso.test", "--via", "graph", "--ttl", "60"];
    let out = w.run(None, None, &[&["--json"][..], &sign_args[..]].concat(), &link_env, "").await;
    let signed = seen.add("deeplink sign", &sign_args, out);
    ok(&signed);
    let made = keystation::station::deeplink::parse(signed["result"]["link"].as_str().unwrap()).unwrap();
    assert_eq!((made.user.as_str(), made.via), ("conor.o'brien@contoso.test", Some(keystation::station::deeplink::LinkVia::Graph)), "{signed}");
    let policy = keystation::station::deeplink::VerifyPolicy { key: Some(&signer), allow_unsigned: false, tenants: &[], now: chrono::Utc::now().timestamp() };
    assert_eq!(keystation::station::deeplink::verify(&made, &policy), Ok(keystation::station::deeplink::Trust::Signed));
    let unsigned_env: [(&str, &str); 0] = [];
    let out = w.run(None, None, &[&["--json"][..], &sign_args[..]].concat(), &unsigned_env, "").await;
    let no_key = seen.add("deeplink sign", &sign_args, out);
    assert_eq!(no_key["error"]["kind"], "usage", "no key configured: {no_key}");
    let data_home = w.path("xdg-data");
    let xdg = [("XDG_DATA_HOME", data_home.to_str().unwrap())];
    for (verb, registered) in [("status", false), ("register", true), ("status", true), ("unregister", false)] {
        let args = ["deeplink", verb];
        let out = w.run(None, None, &["--json", "deeplink", verb], &xdg, "").await;
        let env = seen.add(&format!("deeplink {verb}"), &args, out);
        ok(&env);
        assert_eq!(env["result"]["registered"], registered, "{verb}: {env}");
        let file = data_home.join("applications/keystation.desktop");
        assert_eq!(file.exists(), registered, "{verb}");
        if verb == "register" {
            let entry = std::fs::read_to_string(&file).unwrap();
            assert!(entry.contains("MimeType=x-scheme-handler/keystation;") && entry.contains(" open %u"), "{entry}");
            assert!(env["result"]["xdg_mime"] == "default set" || env["result"]["xdg_mime"].as_str().unwrap().starts_with("absent"), "{env}");
        }
    }

    // sign-in
    let host = w.host();
    let login = ["login", "--tenant-id", TENANT_ID, "--client-id", OPERATOR_APP, "--authority-host", &host, "--graph-host", &host, "--device-code"];
    ok(&json(&w, &mut seen, "login", None, None, &login, "").await);
    ok(&json(&w, &mut seen, "whoami", None, None, &["whoami"], "").await);
    ok(&json(&w, &mut seen, "logout", None, None, &["logout", "--all"], "").await);
    let signed_out = json(&w, &mut seen, "whoami", None, None, &["whoami"], "").await;
    assert_eq!(signed_out["error"]["kind"], "entra_error", "signed out is the error envelope: {signed_out}");

    // station modes
    let csv = w.path("users.csv");
    std::fs::write(&csv, "upn\nbob@contoso.test\n").unwrap();
    ok(&json(&w, &mut seen, "batch", Some(1), None, &["batch", csv.to_str().unwrap()], "").await);
    let bob = json(&w, &mut seen, "methods list", None, None, &["methods", "list", "--user", "bob@contoso.test"], "").await;
    let bob_method = bob["result"]["methods"][0]["id"].as_str().unwrap_or_else(|| panic!("bob's key: {bob}")).to_string();
    ok(&json(&w, &mut seen, "methods delete", None, None, &["methods", "delete", "--user", "bob@contoso.test", "--id", &bob_method, "--yes"], "").await);
    let gone = json(&w, &mut seen, "methods delete", None, None, &["methods", "delete", "--user", "bob@contoso.test", "--id", &bob_method, "--yes"], "").await;
    assert_eq!(gone["error"]["kind"], "usage", "a method that is not there: {gone}");
    ok(&json(&w, &mut seen, "kiosk", Some(1), None, &["kiosk"], "carol@contoso.test\nquit\n").await);
    let report = json(&w, &mut seen, "report", None, None, &["report"], "").await;
    ok(&report);
    assert!(report["result"].as_array().unwrap().iter().all(|r| r["tenant"] == TENANT_ID), "the report's tenant is the tenant id: {report}");
    ok(&json(&w, &mut seen, "demo", None, None, &["demo", "--users", "1", "--keys", "1", "--fast"], "").await);

    // jobs: nothing is parked here, so retry and resolve answer with the error envelope.
    ok(&json(&w, &mut seen, "jobs list", None, None, &["jobs", "list"], "").await);
    let shown = json(&w, &mut seen, "jobs show", None, None, &["jobs", "show", "1"], "").await;
    ok(&shown);
    assert_eq!(shown["result"]["standing"], "closed", "{shown}");
    let not_parked = json(&w, &mut seen, "jobs retry", None, None, &["jobs", "retry", "1"], "").await;
    assert_eq!(not_parked["error"]["kind"], "usage", "{not_parked}");
    let not_parked = json(&w, &mut seen, "jobs resolve", None, None, &["jobs", "resolve", "1", "--note", "checked"], "").await;
    assert_eq!(not_parked["error"]["kind"], "usage", "{not_parked}");

    ok(&json(&w, &mut seen, "doctor", Some(1), None, &["doctor", "--user", "dave@contoso.test"], "").await);

    // A queue in the station's own SQLite journal (a fleet's is in PostgreSQL: tests/fleet).
    let queue_csv = w.path("queue.csv");
    std::fs::write(&queue_csv, "upn\ndave@contoso.test\n").unwrap();
    let loaded = json(&w, &mut seen, "queue load", None, None, &["queue", "load", "wave1", queue_csv.to_str().unwrap()], "").await;
    assert_eq!((loaded["ok"].as_bool(), loaded["result"]["added"].as_u64()), (Some(true), Some(1)), "{loaded}");
    std::fs::write(&queue_csv, "upn\ndave@contoso.test\nnot a user\n").unwrap();
    let bad = json(&w, &mut seen, "queue load", None, None, &["queue", "load", "wave1", queue_csv.to_str().unwrap()], "").await;
    assert_eq!((bad["exit_code"].as_u64(), bad["result"]["already"].as_u64(), bad["result"]["bad_rows"][0]["line"].as_u64()), (Some(7), Some(1), Some(3)), "{bad}");
    ok(&json(&w, &mut seen, "batch", Some(1), None, &["batch", "--queue", "wave1"], "").await);
    let status = json(&w, &mut seen, "queue status", None, None, &["queue", "status", "wave1"], "").await;
    assert_eq!((status["ok"].as_bool(), status["result"]["counts"]["done"].as_u64()), (Some(true), Some(1)), "{status}");

    // tools
    ok(&json(&w, &mut seen, "bench keys", None, None, &["bench", "keys", "--iterations", "1", "--parallel", "1"], "").await);
    ok(&json(&w, &mut seen, "bench station", None, None, &["bench", "station", "--jobs", "1", "--concurrency", "1", "--keys-per-run", "1"], "").await);
    let fleet = json(&w, &mut seen, "bench fleet", None, None, &["bench", "fleet", "--commits", "2", "--stations", "1,2", "--claim-users", "3", "--users", "1", "--prefill", "0,20", "--keys-per-run", "1"], "").await;
    ok(&fleet);
    assert_eq!(fleet["result"]["journal_size"][1]["prefilled_jobs"], 20, "{fleet}");
    assert!(fleet["result"]["fleet"].as_array().unwrap().iter().all(|r| r["done"] == r["users"]), "every user of the end-to-end runs is done: {fleet}");
    let browser = json(&w, &mut seen, "bench browser", None, None, &["bench", "browser", "--warm", "0", "--no-screenshots"], "").await;
    assert!(browser["ok"] == true || browser["error"]["kind"] == "environment", "{browser}");
    let vk = json(&w, &mut seen, "virtual-key", None, None, &["virtual-key", "--uhid", "--uhid-path", w.path("no-uhid").to_str().unwrap()], "").await;
    assert_eq!(vk["error"]["kind"], "environment", "{vk}");
    ok(&json(&w, &mut seen, "config path", None, None, &["config", "path"], "").await);
    ok(&json(&w, &mut seen, "config show", None, None, &["config", "show"], "").await);
    ok(&json(&w, &mut seen, "config init", None, None, &["config", "init", w.path("new.toml").to_str().unwrap()], "").await);
    ok(&json(&w, &mut seen, "completions", None, None, &["completions", "bash"], "").await);
    ok(&json(&w, &mut seen, "man", None, None, &["man", "--dir", w.path("man").to_str().unwrap()], "").await);
    long_running(&w, &mut seen, "simulator", None, &["simulator", "--port", "0"]).await;
    long_running(&w, &mut seen, "console", Some(1), &["console", "--listen", "127.0.0.1:0"]).await;
    let bench = json(&w, &mut seen, "bench console", None, None, &["bench", "console", "--keys", "1", "--touch-ms", "0"], "").await;
    assert!(bench["ok"] == true || bench["error"]["kind"] == "environment", "{bench}");

    // Usage errors are envelopes too, with the command they were about.
    let usage = json(&w, &mut seen, "keys", None, None, &["keys", "lst"], "").await;
    assert_eq!(usage["error"]["kind"], "usage", "{usage}");
    let usage = json(&w, &mut seen, "enroll", None, None, &["enroll"], "").await;
    assert_eq!((usage["exit_code"].as_u64(), usage["error"]["kind"].as_str()), (Some(2), Some("usage")), "{usage}");

    verify(&seen);
}

/// A command that runs until Ctrl-C (`simulator`, `console`): its first event line, then
/// (after Ctrl-C) the envelope.
async fn long_running(w: &World, seen: &mut Seen, path: &str, keys: Option<usize>, args: &[&str]) {
    use tokio::io::AsyncBufReadExt;
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let mut cmd = w.command(keys, None, &all, &[]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).stdin(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line()).await.expect("it starts").unwrap().unwrap_or_default();
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
    let mut rest = String::new();
    while let Ok(Ok(Some(l))) = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await {
        rest.push_str(&l);
        rest.push('\n');
    }
    let mut out = child.wait_with_output().await.unwrap();
    out.stdout = format!("{first}\n{rest}").into_bytes();
    seen.add(path, args, out);
}

/// Every command has a schema and a run; every run matches its schema.
fn verify(seen: &Seen) {
    let contract = schema::load();
    let mut problems = Vec::new();
    for (path, leaf) in command_paths() {
        if !leaf {
            continue;
        }
        if !contract.commands.contains_key(&path) {
            problems.push(format!("`{path}` has no ```json contract block in docs/json.md"));
        }
        if !seen.0.contains_key(&path) {
            problems.push(format!("`{path}` is not run by tests/cli/json_contract.rs"));
        }
    }
    for (path, runs) in &seen.0 {
        let Some(block) = contract.commands.get(path) else { continue };
        for (args, out) in runs {
            let env = crate::json_output::envelope(&out.stdout);
            let mut errors = Vec::new();
            if env["ok"] == true {
                let result = block.get("result").unwrap_or_else(|| panic!("docs/json.md: `{path}` has no `result` schema"));
                schema::check(result, &env["result"], &contract.definitions, "result", &mut errors);
            }
            let events = block.get("events").and_then(Value::as_object);
            for e in crate::json_output::events(&out.stdout) {
                let name = e["event"].as_str().unwrap_or_default().to_string();
                match events.and_then(|m| m.get(&name)) {
                    None => errors.push(format!("event `{name}` is not in the contract")),
                    Some(s) => {
                        let mut fields = e.clone();
                        fields.as_object_mut().unwrap().remove("event");
                        fields.as_object_mut().unwrap().remove("at");
                        schema::check(s, &fields, &contract.definitions, &format!("event {name}"), &mut errors);
                    }
                }
            }
            // The exit code is one the command's help page lists.
            let code = env["exit_code"].as_u64().unwrap() as u8;
            let listed = keystation::cli::exit::codes_of(path).map(|c| code <= 1 || c.contains(&code));
            if listed != Some(true) {
                errors.push(format!("exit code {code} is not listed for `{path}` (cli::exit::codes_of)"));
            }
            if !errors.is_empty() {
                problems.push(format!("`{path}` {args:?}:\n    {}", errors.join("\n    ")));
            }
        }
    }
    assert!(problems.is_empty(), "the --json contract (docs/json.md) is broken:\n{}", problems.join("\n"));
}
