//! `keystation jobs show JOB`: one job in full.
use super::{advice_text, read};
use crate::cli::progress::out_text;
use crate::cli::{CliContext, CliError, Exit};
use crate::station::jobs::detail;

/// Arguments of `keystation jobs show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The job: its number or uid.
    #[arg(value_name = "JOB")]
    pub job: String,
}

pub async fn run(args: ShowArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let d = read(ctx, move |j| detail(j, &args.job)).await?;
    if ctx.json() {
        let secs = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut v = super::entry_json(&d.entry);
        let intents: Vec<serde_json::Value> = d
            .intents
            .iter()
            .map(|i| {
                serde_json::json!({
                    "id": i.id.0,
                    "kind": i.intent.kind(),
                    "detail": i.intent,
                    "recorded_at": secs(i.recorded_at),
                    "resolution": i.resolution,
                    "resolved_at": i.resolved_at.map(secs),
                    "result": i.result,
                    "message": i.message,
                })
            })
            .collect();
        let history: Vec<serde_json::Value> =
            d.history.iter().map(|h| serde_json::json!({"from": h.from, "to": h.to, "at": secs(h.at), "note": h.note})).collect();
        if let Some(m) = v.as_object_mut() {
            m.insert("intents".into(), intents.into());
            m.insert("history".into(), history.into());
        }
        ctx.print_json(&v)?;
        return Ok(Exit::Ok);
    }
    let j = &d.entry.job;
    let inert = |s: Option<&str>| crate::text::inert(s.unwrap_or("-")).into_owned();
    let mut t = format!("Job {} ({}), {} mode, state {}\n", j.id.0, j.uid, j.mode.as_str(), j.state);
    t.push_str(&format!("  User:    {}\n", inert(j.user.upn.as_deref())));
    t.push_str(&format!("  Key:     {} (serial {})\n", inert(j.key.model.as_deref()), inert(j.key.serial.as_deref())));
    if let Some(b) = &j.batch {
        t.push_str(&format!("  Batch:   {} line {}\n", crate::text::inert(&b.id), b.line));
    }
    if let Some(m) = &j.entra_method_id {
        t.push_str(&format!("  Method:  {}\n", crate::text::inert(m)));
    }
    if let Some(e) = &j.error {
        t.push_str(&format!("  Error:   {}: {}\n", e.kind.as_str(), crate::text::inert(&e.message)));
    }
    t.push_str(&format!("  Why:     {} (since {})\n", d.entry.why, d.entry.since.format("%Y-%m-%d %H:%M:%S UTC")));
    t.push_str(&advice_text(&d.entry));
    t.push_str("  History:\n");
    for h in &d.history {
        let note = h.note.as_deref().map(|n| format!(" — {}", crate::text::inert(n))).unwrap_or_default();
        t.push_str(&format!("    {}  {}{note}\n", h.at.format("%Y-%m-%d %H:%M:%S"), h.to));
    }
    t.push_str("  Intents (side effects recorded before they happened):\n");
    for i in &d.intents {
        let how = i.resolution.map(|r| format!("{r:?}").to_lowercase()).unwrap_or_else(|| "open".into());
        let msg = i.message.as_deref().map(|m| format!(" — {}", crate::text::inert(m))).unwrap_or_default();
        t.push_str(&format!("    {}  {} {how}{msg}\n", i.recorded_at.format("%Y-%m-%d %H:%M:%S"), i.intent.kind()));
    }
    out_text(&t);
    Ok(Exit::Ok)
}
