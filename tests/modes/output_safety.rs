//! What keystation writes stays inert where it lands: CSV cells that a spreadsheet
//! would run as formulas are neutralised, control characters from untrusted text never
//! reach the terminal raw, and echoed input is capped (issue 10, item 10).
use super::cli::{json_lines, stderr, stdout, CliWorld};

/// Bytes a terminal acts on: C0 controls other than newline and tab, DEL, and the C1
/// controls (U+0080–U+009F, which some terminals treat like ESC-sequences).
fn terminal_controls(text: &str) -> Vec<char> {
    text.chars().filter(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || ('\u{80}'..='\u{9f}').contains(c)).collect()
}

/// A display name and a UPN that begin with formula characters reach
/// `keystation report --format csv` as plain text: the cells start with `'`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_csv_neutralises_formula_cells_from_display_names_and_upns() {
    let cw = CliWorld::new(3, "").await;
    let users = cw.world.fresh_users();
    // Line 2 and 3: real users whose key names are formulas.
    let file = cw.world.batch_file("users.csv", &format!("upn,display_name\n{},=1+2\n{},@SUM(1+1)\n", users[0], users[1]));
    let out = cw.run(3, &["batch", file.to_str().unwrap()], "").await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    // A UPN that starts with `=`: no such user exists (a batch refuses it before any key,
    // so it is enrolled at the desk), the job fails, but it is in the journal.
    let out = cw.run(1, &["enroll", "--user", "=HYPERLINK(1)@contoso.test", "--wait", "5"], "").await;
    assert_eq!(out.status.code(), Some(2), "the user does not exist\n{}\n{}", stdout(&out), stderr(&out));

    let report = cw.run(0, &["report", "--format", "csv"], "").await;
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let text = stdout(&report);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (upn_col, name_col) = (col("user_upn"), col("display_name"));
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    let names: Vec<&str> = records.iter().filter_map(|r| r.get(name_col)).filter(|s| !s.is_empty()).collect();
    assert!(names.contains(&"'=1+2") && names.contains(&"'@SUM(1+1)"), "formula display names are prefixed with ': {names:?}\n{text}");
    let upns: Vec<&str> = records.iter().filter_map(|r| r.get(upn_col)).collect();
    assert!(upns.contains(&"'=HYPERLINK(1)@contoso.test"), "a formula UPN is prefixed with ': {upns:?}\n{text}");
    for r in &records {
        for cell in r.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "cell {cell:?} would run as a formula\n{text}");
        }
    }
}

/// A UPN made of terminal escape sequences (set the window title, clear the screen,
/// ring the bell, an 8-bit CSI) is refused as a bad row; neither the progress lines nor
/// the summary table pass its control characters to the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_in_a_bad_upn_do_not_reach_the_terminal() {
    let cw = CliWorld::new(1, "").await;
    let users = cw.world.fresh_users();
    let evil = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31mevil\r@contoso.test";
    let file = cw.world.batch_file("users.csv", &format!("upn\n{}\n\"{evil}\"\n", users[0]));
    let out = cw.run(1, &["batch", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "one bad row\n{text}\n{err}");
    assert!(text.contains("1 bad row(s)"), "{text}");
    assert_eq!(terminal_controls(&text), Vec::<char>::new(), "standard output:\n{text:?}");
    assert_eq!(terminal_controls(&err), Vec::<char>::new(), "standard error:\n{err:?}");
    // The row is still recognisable: its escapes are shown, not dropped.
    assert!(text.contains("\\u001b]0;owned"), "the escapes are shown visibly:\n{text}");

    // Loading the same file into a queue reports the bad row the same way.
    let out = cw.run(1, &["queue", "load", "wave1", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(err.contains("\\u001b]0;owned"), "queue load names the bad row:\n{text}\n{err}");
    assert_eq!(terminal_controls(&text), Vec::<char>::new(), "queue load, standard output:\n{text:?}");
    assert_eq!(terminal_controls(&err), Vec::<char>::new(), "queue load, standard error:\n{err:?}");
}

/// A 10 MB cell is echoed at most a capped length each time, with its size, in plain
/// output and in the JSON stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_cell_is_echoed_capped() {
    let cw = CliWorld::new(1, "").await;
    let users = cw.world.fresh_users();
    // Not a UPN (the domain has no dot), so the row is refused and its text echoed.
    let huge = format!("{}@contoso", "a".repeat(10 * 1024 * 1024));
    let file = cw.world.batch_file("users.csv", &format!("upn,display_name\n{},\n{huge},{}\n", users[0], "b".repeat(1024 * 1024)));
    let bytes = huge.len();

    let out = cw.run(1, &["batch", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "{}\n{}", &text[..text.len().min(2000)], &err[..err.len().min(2000)]);
    assert!(text.len() + err.len() < 16 * 1024, "plain output is {} bytes", text.len() + err.len());
    assert!(text.contains(&format!("({bytes} bytes)")), "the echo says how long the cell was:\n{text}");

    let out = cw.run(1, &["--json", "batch", "--batch-id", "again", file.to_str().unwrap()], "").await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.len() + err.len() < 64 * 1024, "JSON output is {} bytes", text.len() + err.len());
    let lines = json_lines(&out);
    let rejected = lines.iter().find(|v| v["event"] == "row_rejected").expect("row_rejected event");
    assert!(rejected["upn"].as_str().unwrap_or_default().ends_with(&format!("({bytes} bytes)")), "{rejected}");
}
