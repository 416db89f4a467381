//! `keystation simulator`: run the local Entra simulator until Ctrl-C.
use crate::cli::{CliContext, CliError, Exit};
use crate::entra::simulator::{self, FaultRule, SimulatorConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct SimulatorArgs {
    /// TCP port to listen on (0 picks a free one; the URLs are printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub bind: IpAddr,
    /// Tenant file (TOML, see docs/simulator.md); default: the built-in demo tenant.
    #[arg(long, value_name = "FILE")]
    pub tenant: Option<PathBuf>,
    /// Inject a fault, e.g. `throttle@graph,rate=0.2,retry_after=2`, `drop@token,times=1`,
    /// `latency@all,millis=300` (repeatable; syntax in docs/simulator.md).
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    pub faults: Vec<FaultRule>,
    /// Seed for the fault dice (same seed, same faults).
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// Approve every device code immediately.
    #[arg(long)]
    pub auto_approve: bool,
    /// The account auto-approved device codes sign in as (default: the first administrator).
    #[arg(long, value_name = "UPN", requires = "auto_approve")]
    pub auto_approve_as: Option<String>,
    /// Trust this attestation root (PEM file; repeatable), e.g. keystation's virtual-key CA.
    #[arg(long = "trust-attestation-root", value_name = "FILE")]
    pub trust_attestation_roots: Vec<PathBuf>,
    /// Write the generated app certificates and keys here (for `keystation login --certificate`).
    #[arg(long, value_name = "DIR")]
    pub write_credentials: Option<PathBuf>,
    /// Minimum device-code polling interval in seconds (default 5; 0 disables slow_down).
    #[arg(long, value_name = "SECS")]
    pub device_code_interval: Option<u64>,
    /// Host name of the "login.microsoft.com" stand-in (must resolve to the bind address).
    #[arg(long, default_value = "localhost", value_name = "HOST")]
    pub login_host: String,
    /// Also serve the sign-in and Security-info pages over HTTPS as login.microsoftonline.com,
    /// mysignins.microsoft.com and login.microsoft.com (a throw-away test CA) on a second
    /// port, and print the station's `[browser]` lab settings for them.
    #[arg(long)]
    pub microsoft_hosts: bool,
    /// Print the built-in tenant file and exit (a starting point for --tenant).
    #[arg(long)]
    pub print_default_tenant: bool,
}

fn parse_fault(s: &str) -> Result<FaultRule, String> {
    s.parse()
}

fn build_config(args: &SimulatorArgs) -> Result<SimulatorConfig, CliError> {
    let mut cfg = match &args.tenant {
        Some(path) => SimulatorConfig::from_toml_file(path).map_err(|e| CliError::usage(e.to_string()))?,
        None => SimulatorConfig::default(),
    };
    cfg.bind = SocketAddr::new(args.bind, args.port);
    cfg.faults.rules.extend(args.faults.iter().cloned());
    if let Some(seed) = args.fault_seed {
        cfg.faults.seed = seed;
    }
    cfg.auto_approve_device_codes = args.auto_approve;
    cfg.auto_approve_account = args.auto_approve_as.clone();
    if let Some(i) = args.device_code_interval {
        cfg.behaviour.device_code_interval_secs = i;
    }
    cfg.login_host = args.login_host.clone();
    cfg.microsoft_hosts = args.microsoft_hosts;
    for path in &args.trust_attestation_roots {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read attestation root {}: {e}", path.display())))?;
        cfg.extra_trusted_roots.push(pem);
    }
    Ok(cfg)
}

pub async fn run(args: SimulatorArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    if args.print_default_tenant {
        if ctx.json() {
            ctx.print_json(&serde_json::json!({ "tenant_toml": simulator::seed::BUILTIN_TENANT_TOML }))?;
        } else {
            crate::cli::progress::out_text(simulator::seed::BUILTIN_TENANT_TOML);
        }
        return Ok(Exit::Ok);
    }
    let cfg = build_config(&args)?;
    let stop = crate::cli::stop::StopSignals::new();
    let sim = simulator::start(cfg).await.map_err(|e| match e {
        simulator::SimulatorError::Config(_) | simulator::SimulatorError::Bind { .. } => CliError::usage(e.to_string()),
        other => CliError::failure(other.to_string()),
    })?;
    let mut info = sim.info();
    let mut written = Vec::new();
    if let Some(dir) = &args.write_credentials {
        written = sim.write_generated_credentials(dir).map_err(CliError::failure)?;
        if let Some(o) = info.as_object_mut() {
            let files: Vec<serde_json::Value> = written
                .iter()
                .map(|(id, crt, key)| serde_json::json!({"clientId": id, "certificate": crt, "privateKey": key}))
                .collect();
            o.insert("credentialFiles".into(), serde_json::Value::Array(files));
        }
    }
    if ctx.json() {
        // One event line, so a supervising process can read it as soon as the simulator
        // is up; the envelope follows when it stops.
        ctx.emit_event("simulator_started", &info);
    } else {
        print_human(&info, &written);
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    stop.wait().await;
    sim.shutdown().await;
    if !ctx.json() {
        errln!("simulator stopped");
    }
    Ok(Exit::Ok)
}

fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn print_human(info: &serde_json::Value, written: &[(String, PathBuf, PathBuf)]) {
    let authority = s(info, "authority");
    let tenant = s(info, "tenantId");
    outln!("keystation simulator is running (Ctrl-C to stop)");
    outln!();
    outln!("  tenant         {} — {} ({})", s(info, "tenantName"), tenant, s(info, "tenantDomain"));
    outln!("  authority      {authority}");
    outln!("  token          {}", s(info, "tokenEndpoint"));
    outln!("  graph          {}  and  {}", s(info, "graphV1"), s(info, "graphBeta"));
    outln!("  security info  {}", s(info, "securityInfo"));
    outln!("  sign-in        {}", s(info, "signIn"));
    outln!("  device login   {}", s(info, "deviceLogin"));
    outln!("  test control   {}", s(info, "control"));
    if let Some(tls) = info.get("pagesTls").filter(|t| !t.is_null()) {
        // A lab station walks the production flow against these pages (docs/configuration.md).
        let addr = s(tls, "address");
        let map: Vec<String> = tls["hosts"].as_array().into_iter().flatten().filter_map(|h| h.as_str()).map(|h| format!("\"{h}\" = \"{addr}\"")).collect();
        outln!();
        outln!("Microsoft's host names are served over HTTPS on {addr} (a test CA). A station's lab settings:");
        outln!("  [browser]");
        outln!("  flow = \"microsoft\"");
        outln!("  host_map = {{ {} }}", map.join(", "));
        outln!("  trust_spki = [\"{}\"]", s(tls, "spkiSha256"));
    }
    outln!();
    outln!("apps:");
    for a in info["apps"].as_array().into_iter().flatten() {
        let id = s(a, "clientId");
        outln!("  {id}  {} ({})", s(a, "name"), a["kind"].as_str().unwrap_or(""));
        // The station's vocabulary; the line works as printed (tests/cli: simulator_login_line_works).
        let base = format!("keystation login --authority-host {authority} --graph-host {authority} --tenant-id {tenant} --client-id {id}");
        if a["kind"] == "public" {
            outln!("      {base} --device-code");
        } else if a["hasSecret"] == true {
            outln!("      {base} --client-secret-env KEYSTATION_CLIENT_SECRET   (secret: apps[].secrets in the tenant file)");
        }
        if let Some((_, crt, key)) = written.iter().find(|(cid, _, _)| cid == id) {
            outln!("      {base} --certificate {} --private-key {}", crt.display(), key.display());
        } else if a["certificates"].as_u64().unwrap_or(0) > 0 {
            outln!("      (certificate app: add --write-credentials DIR to get its generated key)");
        }
    }
    outln!();
    outln!("users:");
    for u in info["users"].as_array().into_iter().flatten() {
        let mut notes: Vec<String> = u["roles"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect();
        if u["guest"] == true {
            notes.push("guest".into());
        }
        if u["inTapPolicy"] == false && u["guest"] == false {
            notes.push("outside TAP policy".into());
        }
        if u["inFido2Policy"] == false && u["guest"] == false {
            notes.push("outside FIDO2 policy".into());
        }
        if u["mfaOnSignin"] == false {
            notes.push("sign-in is not MFA".into());
        }
        if u["proofUpRequired"] == true {
            notes.push("proof-up required".into());
        }
        let keys = u["securityKeys"].as_u64().unwrap_or(0);
        if keys > 0 {
            notes.push(format!("{keys}/{} keys", u["securityKeyLimit"]));
        }
        if let Some(c) = u["ceremony"].as_str() {
            notes.push(format!("{c} ceremony"));
        }
        outln!("  {:<40} {}", s(u, "userPrincipalName"), notes.join(", "));
    }
}
