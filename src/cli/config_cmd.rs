//! `keystation config init|show|path`: write the configuration template, show the
//! resolved configuration with where each value came from, say which file is read.
//! The layering itself is `station::config`.
use crate::cli::enroll::flags::StationFlags;
use crate::cli::{CliContext, CliError, Exit};
use crate::station::config::{config_search_path, signed_in, LoadedConfig, Origin, EMBEDDED_DEFAULT, SYSTEM_CONFIG_PATH};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

/// `keystation config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The `config` subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Write the commented configuration template (every setting at its default).
    #[command(after_help = "Target: FILE, else --config, else --system's /etc/keystation/keystation.toml, else the user's file\n(<config dir>/keystation/keystation.toml). An existing file is kept unless --force is given.")]
    Init(InitArgs),
    /// Show the resolved configuration: every setting, its value and where it came from.
    #[command(after_help = "Takes the station commands' options, so `config show --pin-length 10` shows what a command with\nthat option would use. Nothing secret is shown: for a client secret only its variable's name or\nthe file's path (and whether it is there); passwords in a proxy URL are masked.")]
    Show(ShowArgs),
    /// Say which configuration file is read, and where keystation looks for one.
    Path,
}

/// `config init` options.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where to write the template.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Write the system-wide file, /etc/keystation/keystation.toml.
    #[arg(long, conflicts_with = "file")]
    pub system: bool,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `config show` options.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The station commands' configuration options.
    #[command(flatten)]
    pub station: Box<StationFlags>,
}

/// One resolved setting.
#[derive(Serialize, Debug)]
struct Setting {
    key: String,
    value: serde_json::Value,
    source: Origin,
    /// Extra information that is not the value (e.g. whether a secret's variable is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub async fn run(args: ConfigArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    match args.command {
        ConfigCommand::Path => path(ctx),
        ConfigCommand::Init(a) => init(a, ctx),
        ConfigCommand::Show(a) => show(a, ctx),
    }
}

fn path(ctx: &CliContext) -> Result<Exit, CliError> {
    let search: Vec<serde_json::Value> = config_search_path().iter().map(|p| serde_json::json!({ "path": p, "exists": p.exists() })).collect();
    let (file, source) = match &ctx.global.config {
        Some(p) if std::env::var_os("KEYSTATION_CONFIG").is_some_and(|v| PathBuf::from(v) == *p) => (Some(p.clone()), "environment"),
        Some(p) => (Some(p.clone()), "command_line"),
        None => match config_search_path().into_iter().enumerate().find(|(_, p)| p.exists()) {
            Some((0, p)) => (Some(p), "user"),
            Some((_, p)) => (Some(p), "system"),
            None => (None, "none"),
        },
    };
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "path": file, "source": source, "search": search }))?;
    } else {
        match &file {
            Some(p) => outln!("{}", p.display()),
            None => errln!("no configuration file: built-in defaults are used (`keystation config init` writes one)"),
        }
        if ctx.global.config.is_none() {
            errln!("looked in, in this order:");
            for p in config_search_path() {
                errln!("  {}{}", p.display(), if p.exists() { "" } else { "  (absent)" });
            }
        }
    }
    Ok(Exit::Ok)
}

fn init(args: InitArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let target = match (&args.file, args.system, &ctx.global.config) {
        (Some(f), _, _) => f.clone(),
        (None, true, _) => PathBuf::from(SYSTEM_CONFIG_PATH),
        (None, false, Some(c)) => c.clone(),
        (None, false, None) => config_search_path().into_iter().next().ok_or_else(|| CliError::usage("cannot find the user's configuration directory; give a FILE"))?,
    };
    if target.exists() && !args.force {
        return Err(CliError::usage(format!("{} exists already; nothing was written", target.display()))
            .with_next_step("edit it, or add --force to replace it with the template"));
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&target, EMBEDDED_DEFAULT).map_err(|e| CliError::usage(format!("cannot write {}: {e}", target.display())))?;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "path": target, "written": true }))?;
    } else {
        outln!("Wrote the configuration template to {}", target.display());
        errln!("Fill in [tenant] (id, client_id, sign_in), then check it with `keystation config show`.");
    }
    Ok(Exit::Ok)
}

fn show(args: ShowArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let loaded = ctx.load_config(args.station.overrides())?;
    let settings = settings(&loaded)?;
    if ctx.json() {
        ctx.print_json(&serde_json::json!({
            "file": loaded.file,
            "signed_in_record": signed_in::record_path(&ctx.state_dir),
            "settings": settings,
        }))?;
        return Ok(Exit::Ok);
    }
    match &loaded.file {
        Some(f) => outln!("# configuration file: {}", f.display()),
        None => outln!("# no configuration file: built-in defaults"),
    }
    let width = settings.iter().map(|s| s.key.len() + value_text(&s.value).len() + 3).max().unwrap_or(0).min(60);
    for s in &settings {
        let left = format!("{} = {}", s.key, value_text(&s.value));
        let note = s.note.as_deref().map(|n| format!("; {n}")).unwrap_or_default();
        outln!("{left:<width$}  # {}{note}", s.source);
    }
    Ok(Exit::Ok)
}

fn value_text(v: &serde_json::Value) -> String {
    v.to_string()
}

/// Every leaf setting of the resolved configuration, with its source.
fn settings(loaded: &LoadedConfig) -> Result<Vec<Setting>, CliError> {
    let value = serde_json::to_value(&loaded.config).map_err(|e| CliError::failure(format!("cannot show the configuration: {e}")))?;
    let mut out = Vec::new();
    walk(&value, "", loaded, &mut out);
    Ok(out)
}

fn walk(v: &serde_json::Value, prefix: &str, loaded: &LoadedConfig, out: &mut Vec<Setting>) {
    match v {
        serde_json::Value::Object(map) if !map.is_empty() && !prefix.starts_with("models") => {
            for (k, child) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(child, &key, loaded, out);
            }
        }
        serde_json::Value::Null => {}
        _ => {
            let (value, note) = mask(prefix, v);
            out.push(Setting { key: prefix.to_string(), value, source: loaded.provenance.origin_of(prefix), note });
        }
    }
}

/// Nothing secret leaves `config show`: a secret's variable is named and said to be set
/// or not, a proxy URL's password is replaced by `****`.
fn mask(key: &str, v: &serde_json::Value) -> (serde_json::Value, Option<String>) {
    let text = v.as_str().unwrap_or_default();
    if key.ends_with("sign_in.secret_env") {
        let set = std::env::var_os(text).is_some_and(|s| !s.is_empty());
        return (v.clone(), Some(format!("the secret is read from this variable, which is {}", if set { "set (value not shown)" } else { "not set" })));
    }
    if key.ends_with("sign_in.secret_file") {
        let there = std::path::Path::new(text).is_file();
        return (v.clone(), Some(format!("the secret is read from this file, which {}", if there { "exists (contents not shown)" } else { "does not exist" })));
    }
    if key == "network.proxy"
        && let Ok(mut url) = url::Url::parse(text)
        && url.password().is_some()
    {
        let _ = url.set_password(Some("****"));
        return (serde_json::Value::String(url.to_string()), Some("password masked".into()));
    }
    (v.clone(), None)
}
