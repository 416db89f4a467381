//! Plain-text tables for summaries (batch report, demo results, bench figures).
use crate::station::batch::{BatchReport, RowStatus};

/// Columns padded to their widest cell; the last column is not padded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count()) + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// Shorten `s` to `max` characters with an ellipsis, as one line of inert text
/// ([`crate::text::inert`]: a cell never carries a control character or a line break).
pub fn clip(s: &str, max: usize) -> String {
    let s = crate::text::inert(s);
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The batch summary: a headline with the counts and one row per line of the file.
pub fn batch_summary(report: &BatchReport) -> String {
    let c = &report.counts;
    let mut head = format!("Batch {} ({}): {} done", report.batch_id, report.file, c.done);
    for (n, what) in [
        (c.already_done, "already done"),
        (c.failed, "failed"),
        (c.interrupted, "interrupted (a re-run resumes them)"),
        (c.needs_operator, "need an operator"),
        (c.not_started, "not started"),
        (c.rejected, "bad row(s)"),
    ] {
        if n > 0 {
            head.push_str(&format!(", {n} {what}"));
        }
    }
    head.push_str(&format!(" in {}\n\n", super::describe::duration(report.millis)));
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| {
            let detail = match r.status {
                RowStatus::Done | RowStatus::AlreadyDone => r.method_id.clone().map(|m| format!("method {m}")).unwrap_or_default(),
                _ => r.reason.clone().unwrap_or_default(),
            };
            vec![
                r.line.to_string(),
                clip(r.upn.as_deref().unwrap_or("-"), 36),
                r.status.as_str().to_string(),
                crate::text::inert(r.serial.as_deref().or(r.key.as_deref()).unwrap_or("-")).into_owned(),
                crate::text::inert(&detail).into_owned(),
            ]
        })
        .collect();
    let mut out = head;
    out.push_str(&render(&["LINE", "USER", "STATUS", "KEY", "METHOD / REASON"], &rows));
    if c.failed + c.interrupted + c.not_started > 0 {
        out.push_str("\nRe-run the same command to retry the users that are not done; done users are skipped.\n");
    }
    if c.needs_operator > 0 {
        out.push_str("Users that need an operator: `keystation jobs list` says what to do for each, with the commands.\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = render(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["k".into(), "22".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\nk    22\n");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("a\nb", 10), "a\\nb");
    }
}
