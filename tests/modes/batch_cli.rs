//! `keystation --virtual N batch FILE` as a process: bad rows reported with their line
//! numbers while the rest succeed, JSON lines, dry run, running out of virtual keys and
//! re-running the same file.
use super::cli::{json_lines, stderr, stdout, CliWorld};

/// Users from the world, with deliberately bad rows in between. Lines:
/// 1 header, 2 good, 3 empty user, 4 good, 5 not a UPN, 6 bad PIN length, 7 duplicate
/// of line 2, 8 comment, 9 good with a key name and PIN policy.
fn file_with_bad_rows(users: &[String]) -> String {
    format!(
        "upn,display_name,pin_length\n{a},,\n,,8\n{b},,\nnot-a-user,,\n{c},,3\n{A},,\n# late starters\n{c},Desk 3 key,10\n",
        a = users[0],
        b = users[1],
        c = users[2],
        A = users[0].to_uppercase(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_by_line_and_the_others_are_provisioned() {
    let cw = CliWorld::new(3, "").await;
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("users.csv", &file_with_bad_rows(&users));
    let out = cw.run(3, &["batch", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "partial failure (bad rows)\n{text}\n{err}");
    for (line, needle) in [(3, "empty"), (5, "not-a-user"), (6, "pin_length `3`"), (7, "already on line 2")] {
        assert!(text.lines().any(|l| l.contains(&format!("line {line}:")) && l.contains(needle)), "line {line} ({needle}) not reported:\n{text}");
    }
    // The summary table lists every row with its line.
    assert!(text.contains("3 done") && text.contains("4 bad row(s)"), "{text}");
    for u in &users {
        assert_eq!(cw.world.sim_methods(u).await.len(), 1, "{u}\n{text}");
    }
    // Line 9's key name made it to Entra.
    let names: Vec<String> = cw.world.sim_methods(&users[2]).await.iter().filter_map(|m| m["displayName"].as_str().map(str::to_string)).collect();
    assert_eq!(names, vec!["Desk 3 key".to_string()]);
    assert!(!text.contains("panicked") && !err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_report_rows_and_the_final_report() {
    let cw = CliWorld::new(3, "").await;
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("users.csv", &file_with_bad_rows(&users));
    let out = cw.run(3, &["--json", "batch", file.to_str().unwrap()], "").await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let lines = json_lines(&out);
    let rejected: Vec<u64> = lines.iter().filter(|v| v["event"] == "row_rejected").filter_map(|v| v["line"].as_u64()).collect();
    assert_eq!(rejected, vec![3, 5, 6, 7]);
    assert!(lines.iter().any(|v| v["event"] == "step_started"), "pipeline steps are in the stream");
    let last = lines.last().expect("lines");
    assert_eq!(last["event"], "batch_finished");
    let report = &last["report"];
    assert_eq!(report["end"], "partial");
    assert_eq!(report["counts"]["done"], 3);
    assert_eq!(report["counts"]["rejected"], 4);
    let done: Vec<&str> = report["rows"].as_array().unwrap().iter().filter(|r| r["status"] == "done").filter_map(|r| r["upn"].as_str()).collect();
    assert_eq!(done.len(), 3);
    // No PIN in the JSON stream: the slips go elsewhere.
    assert!(!stdout(&out).contains("PIN  "), "no slip text on the JSON stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_virtual_keys_then_a_rerun_finishes_the_list_without_repeating_anyone() {
    let cw = CliWorld::new(3, "").await;
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("staff.csv", &format!("{}\n{}\n{}\n", users[0], users[1], users[2]));

    let dry = cw.run(2, &["batch", "--dry-run", file.to_str().unwrap()], "").await;
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("provision"), "{}", stdout(&dry));
    for u in &users {
        assert!(cw.world.sim_methods(u).await.is_empty(), "a dry run registers nothing");
    }
    assert!(!cw.world.state_dir().join("journal.sqlite").exists(), "a dry run does not even create the journal");

    let first = cw.run(2, &["batch", "--concurrency", "2", file.to_str().unwrap()], "").await;
    let text = stdout(&first);
    assert_eq!(first.status.code(), Some(7), "two keys for three users\n{text}\n{}", stderr(&first));
    assert!(text.contains("not started"), "{text}");
    let with_key: Vec<usize> = futures_count(&cw, &users).await;
    assert_eq!(with_key.iter().sum::<usize>(), 2, "{with_key:?}");

    let second = cw.run(2, &["batch", file.to_str().unwrap()], "").await;
    let text = stdout(&second);
    assert_eq!(second.status.code(), Some(0), "{text}\n{}", stderr(&second));
    assert!(text.contains("2 already done"), "{text}");
    assert_eq!(futures_count(&cw, &users).await, vec![1, 1, 1], "{text}");
}

async fn futures_count(cw: &CliWorld, users: &[String]) -> Vec<usize> {
    let mut v = Vec::new();
    for u in users {
        v.push(cw.world.sim_methods(u).await.len());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_file_or_setting_is_a_usage_error() {
    let cw = CliWorld::new(1, "").await;
    let missing = cw.run(1, &["batch", "/nonexistent/users.csv"], "").await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read the batch file"), "{}", stderr(&missing));
    let no_column = cw.world.batch_file("x.csv", "email,name\nalice@contoso.test,A\n");
    let out = cw.run(1, &["batch", no_column.to_str().unwrap()], "").await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no UPN column"), "{}", stderr(&out));
    let ok = cw.world.batch_file("ok.csv", "alice@contoso.test\n");
    let desk = cw.run(1, &["batch", "--set", "pin.source=user-at-desk", ok.to_str().unwrap()], "").await;
    assert_eq!(desk.status.code(), Some(2));
    assert!(stderr(&desk).contains("kiosk"), "{}", stderr(&desk));
    let conc = cw.run(1, &["batch", "--concurrency", "0", ok.to_str().unwrap()], "").await;
    assert_eq!(conc.status.code(), Some(2));
}

/// A wrong client secret fails the station's own sign-in: every user would fail the
/// same way, so the batch stops after the first one instead of burning through the list,
/// and a re-run after fixing the secret finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_failure_stops_the_batch_instead_of_failing_every_user() {
    let cw = CliWorld::new(3, "").await;
    let users = cw.world.fresh_users();
    let secret_file = cw.world.state_dir().join(keystation::station::demo::tenant::DEMO_SECRET_FILE);
    let good = std::fs::read(&secret_file).expect("secret file");
    std::fs::write(&secret_file, b"not-the-secret").expect("overwrite secret");
    let file = cw.world.batch_file("users.csv", &format!("upn\n{}\n{}\n{}\n", users[0], users[1], users[2]));

    let out = cw.run(3, &["batch", "--concurrency", "1", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "{text}\n{err}");
    assert!(format!("{text}{err}").contains("would fail for every user"), "the operator is told why it stopped:\n{text}\n{err}");
    let not_started = text.lines().filter(|l| l.contains("not started")).count();
    assert!(not_started >= 2, "the other users were left for a re-run:\n{text}");
    for u in &users {
        assert!(cw.world.sim_methods(u).await.is_empty(), "{u} got nothing");
    }

    std::fs::write(&secret_file, good).expect("restore secret");
    let out = cw.run(3, &["batch", file.to_str().unwrap()], "").await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    for u in &users {
        assert_eq!(cw.world.sim_methods(u).await.len(), 1, "{u}");
    }
}

/// Users the tenant would refuse (outside the FIDO2 policy, not in the directory) are
/// found before the first key: the dry run says so and exits 7, and the run gives them
/// no key, even with keys to spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_the_tenant_refuses_are_found_before_the_first_key_and_get_none() {
    let cw = CliWorld::new(2, "").await;
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("mixed.csv", &format!("upn\n{}\noscar.outside@contoso.test\nnobody@contoso.test\n{}\n", users[0], users[1]));

    let dry = cw.run(3, &["batch", "--dry-run", file.to_str().unwrap()], "").await;
    let text = stdout(&dry);
    assert_eq!(dry.status.code(), Some(7), "{text}\n{}", stderr(&dry));
    for (line, needle) in [(3, "not in scope"), (4, "nobody@contoso.test")] {
        assert!(text.lines().any(|l| l.starts_with(&line.to_string()) && l.contains("refuse") && l.contains(needle)), "line {line}:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with('2') && l.contains("provision")), "{text}");

    let out = cw.run(3, &["batch", "--concurrency", "1", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "{text}\n{err}");
    assert!(text.contains("refused before any key was used"), "{text}");
    assert_eq!(cw.world.sim_methods(&users[0]).await.len(), 1);
    assert_eq!(cw.world.sim_methods(&users[1]).await.len(), 1);
    assert!(cw.world.sim_methods("oscar.outside@contoso.test").await.is_empty());
    // No job was even begun for them: no key was handed to them.
    let jobs = keystation::station::journal::Journal::open_existing(&cw.world.state_dir().join("journal.sqlite")).unwrap().query(&Default::default()).unwrap();
    let upns: Vec<String> = jobs.iter().filter_map(|j| j.user.upn.clone()).map(|u| u.to_lowercase()).collect();
    assert_eq!(jobs.len(), 2, "{upns:?}");
    assert!(!upns.iter().any(|u| u.starts_with("oscar") || u.starts_with("nobody")), "{upns:?}");
}

/// The `replace` column: once the new key is registered, the user's older keys are
/// deleted (as a journal operation); other rows keep theirs. A crash mid-way is finished
/// by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replace_column_deletes_a_users_older_keys_after_the_new_one_is_registered() {
    let cw = CliWorld::new(3, "").await;
    let users = cw.world.fresh_users();
    let first = cw.world.batch_file("first.csv", &format!("upn\n{}\n{}\n{}\n", users[0], users[1], users[2]));
    let out = cw.run(3, &["batch", first.to_str().unwrap()], "").await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));

    let second = cw.world.batch_file("second.csv", &format!("upn,replace\n{},yes\n{},no\n", users[0], users[1]));
    let dry = cw.run(2, &["batch", "--dry-run", "--batch-id", "wave-2", second.to_str().unwrap()], "").await;
    assert!(stdout(&dry).contains("older security keys are deleted"), "{}", stdout(&dry));
    let out = cw.run(2, &["--json", "batch", "--batch-id", "wave-2", second.to_str().unwrap()], "").await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    let report = json_lines(&out).last().unwrap()["report"].clone();
    let row = report["rows"].as_array().unwrap().iter().find(|r| r["line"] == 2).unwrap().clone();
    assert_eq!(row["replaced_keys"], 1, "{row}");
    let kept = cw.world.sim_methods(&users[0]).await;
    assert_eq!(kept.len(), 1, "only the new key is left");
    assert_eq!(kept[0]["id"], row["method_id"]);
    assert_eq!(cw.world.sim_methods(&users[1]).await.len(), 2, "no replace: both keys stay");

    // --replace-existing for everyone, with a crash right after the first DELETE.
    let third = cw.world.batch_file("third.csv", &format!("upn\n{}\n", users[2]));
    let crashed = cw
        .run_env(1, &["batch", "--batch-id", "wave-3", "--replace-existing", third.to_str().unwrap()], &[(keystation::station::pipeline::CRASH_ENV, "effect:delete_method")])
        .await;
    assert_eq!(crashed.status.code(), None, "killed: {}", stderr(&crashed));
    let open = keystation::station::journal::Journal::open_existing(&cw.world.state_dir().join("journal.sqlite")).unwrap().unfinished_operations().unwrap();
    assert_eq!(open.len(), 1);
    let again = cw.run(0, &["batch", "--batch-id", "wave-3", "--replace-existing", third.to_str().unwrap()], "").await;
    assert_eq!(again.status.code(), Some(0), "{}\n{}", stdout(&again), stderr(&again));
    assert_eq!(cw.world.sim_methods(&users[2]).await.len(), 1, "the older key is gone, the new one stays");
    let j = keystation::station::journal::Journal::open_existing(&cw.world.state_dir().join("journal.sqlite")).unwrap();
    assert!(j.unfinished_operations().unwrap().is_empty());
}
