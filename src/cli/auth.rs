//! `keystation login`, `logout`, `whoami`: sign in to Entra ID, forget sign-ins, show
//! who is signed in. The work is done by `entra::oauth::session`; this file parses
//! flags, reads secrets (never from argv) and prints.
use crate::cli::{CliContext, CliError, Exit};
use crate::entra::cloud::CloudEndpoints;
use crate::station::config::ConfigLoader;
use crate::entra::oauth::{
    self, AssertionAlgorithm, CacheFilter, ClientCertificate, ClientCredential, DeviceCodeEvent, LoginMethod, LoginRequest, OAuthError, OAuthOptions, Scopes,
    SignInSummary, TokenCache,
};
use crate::secret::SecretString;
use chrono::Utc;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where the tenant is and how TLS is checked (shared by the three commands).
#[derive(Args, Debug, Clone)]
pub struct TenantArgs {
    /// Tenant ID (GUID) or verified domain, e.g. contoso.onmicrosoft.com.
    #[arg(long, env = "KEYSTATION_TENANT", value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Application (client) ID of the app registration.
    #[arg(long, env = "KEYSTATION_CLIENT_ID", value_name = "GUID")]
    pub client_id: Option<String>,
    /// Authority: a cloud name (global, usgov, usgov-dod, china) or a URL such as
    /// https://login.microsoftonline.com (http only for 127.0.0.1/localhost, e.g. the simulator).
    #[arg(long, env = "KEYSTATION_AUTHORITY", value_name = "CLOUD|URL")]
    pub authority: Option<String>,
    /// Extra trusted CA certificates (PEM bundle), e.g. for a TLS-inspecting proxy.
    #[arg(long, env = "KEYSTATION_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
}

/// Flags of `keystation login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Tenant, client, authority and CA bundle (shared by the three commands).
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Sign in as a delegated admin with a device code (the default without a client credential).
    #[arg(long, conflicts_with_all = ["client_secret_env", "client_secret_file", "certificate"])]
    pub device_code: bool,
    /// App-only: read the client secret from this environment variable (its name, not its value).
    #[arg(long, value_name = "VAR", conflicts_with_all = ["client_secret_file", "certificate"])]
    pub client_secret_env: Option<String>,
    /// App-only: read the client secret from the first line of this file.
    #[arg(long, value_name = "FILE", conflicts_with = "certificate")]
    pub client_secret_file: Option<PathBuf>,
    /// App-only: certificate (PEM) uploaded to the app registration.
    #[arg(long, value_name = "FILE", requires = "private_key")]
    pub certificate: Option<PathBuf>,
    /// App-only: the certificate's unencrypted RSA private key (PKCS#8 PEM; keep it chmod 600).
    #[arg(long, value_name = "FILE", requires = "certificate")]
    pub private_key: Option<PathBuf>,
    /// Client assertion algorithm: ps256 (x5t#S256, recommended) or rs256 (x5t).
    #[arg(long, value_name = "ALG", default_value = "ps256", value_parser = parse_alg)]
    pub assertion_alg: AssertionAlgorithm,
    /// Graph host of the cloud (default: the authority's cloud), used to build scopes.
    #[arg(long, env = "KEYSTATION_GRAPH", value_name = "URL")]
    pub graph: Option<String>,
    /// Scopes, space- or comma-separated; bare names get the Graph prefix
    /// (default: .default, i.e. the permissions granted to the app registration).
    #[arg(long, value_name = "SCOPES")]
    pub scopes: Option<String>,
}

/// Flags of `keystation logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Tenant, client, authority and CA bundle (shared by the three commands).
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only the sign-in of this account (UPN, or "(app-only)").
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
    /// Forget every cached sign-in.
    #[arg(long)]
    pub all: bool,
}

/// Flags of `keystation whoami`.
#[derive(Args, Debug)]
pub struct WhoamiArgs {
    /// Tenant, client, authority and CA bundle (shared by the three commands).
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only the sign-in of this account (UPN, or "(app-only)").
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
}

fn parse_alg(text: &str) -> Result<AssertionAlgorithm, String> {
    AssertionAlgorithm::parse(text).ok_or_else(|| format!("'{text}' is not ps256 or rs256"))
}

/// The station configuration's `[network]` settings (CA bundle, proxy, timeouts), as
/// every other command connects, with `--ca-bundle` on top.
fn oauth_options(t: &TenantArgs, ctx: &CliContext) -> Result<OAuthOptions, CliError> {
    let loaded = ConfigLoader::for_cli(ctx.global.config.clone()).load().map_err(|e| CliError::usage(e.to_string()))?;
    let mut network = loaded.config.network;
    if let Some(p) = &t.ca_bundle {
        network.ca_bundle = Some(p.clone());
    }
    Ok(OAuthOptions { http: network.http_options(), ..OAuthOptions::default() })
}

fn filter(t: &TenantArgs, account: Option<&String>) -> Result<CacheFilter, CliError> {
    let authority = match &t.authority {
        Some(a) => Some(CloudEndpoints::resolve(Some(a), None).map_err(|e| CliError::usage(e.0))?.authority_host.as_str().trim_end_matches('/').to_string()),
        None => None,
    };
    Ok(CacheFilter { authority, tenant: t.tenant.clone(), client_id: t.client_id.clone(), account: account.cloned() })
}

/// Map an OAuth failure to an exit code and a message.
fn oauth_error(e: OAuthError) -> CliError {
    let code = match &e {
        OAuthError::Config(_) | OAuthError::Credential(_) => Exit::Usage,
        OAuthError::Cancelled => Exit::Cancelled,
        OAuthError::Cache(_) => Exit::Failure,
        _ => Exit::EntraError,
    };
    CliError::new(code, e.to_string())
}

/// Read the client secret from the named variable or file (never from argv).
fn read_client_secret(env: Option<&str>, file: Option<&PathBuf>) -> Result<Option<SecretString>, CliError> {
    let secret = if let Some(var) = env {
        let value = std::env::var(var).map_err(|_| CliError::usage(format!("environment variable {var} is not set (it should hold the client secret)")))?;
        SecretString::new(value.trim_end_matches(['\r', '\n']).to_string())
    } else if let Some(path) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read the client secret file {}: {e}", path.display())))?,
        );
        SecretString::new(text.lines().next().unwrap_or("").trim().to_string())
    } else {
        return Ok(None);
    };
    if secret.is_empty() {
        return Err(CliError::usage("the client secret is empty"));
    }
    Ok(Some(secret))
}

/// `keystation login`: sign in and cache the token.
pub async fn run_login(args: LoginArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let t = &args.tenant;
    let tenant = t.tenant.clone().ok_or_else(|| CliError::usage("--tenant is required (tenant ID or domain; or set KEYSTATION_TENANT)"))?;
    let client_id = t.client_id.clone().ok_or_else(|| CliError::usage("--client-id is required (the app registration's Application ID; or set KEYSTATION_CLIENT_ID)"))?;
    let endpoints = CloudEndpoints::resolve(t.authority.as_deref(), args.graph.as_deref()).map_err(|e| CliError::usage(e.0))?;
    let method = if let Some(secret) = read_client_secret(args.client_secret_env.as_deref(), args.client_secret_file.as_ref())? {
        LoginMethod::AppOnly(ClientCredential::Secret(secret))
    } else if let (Some(cert), Some(key)) = (&args.certificate, &args.private_key) {
        let certificate = ClientCertificate::from_files(cert, key).map_err(oauth_error)?;
        LoginMethod::AppOnly(ClientCredential::Certificate { certificate: std::sync::Arc::new(certificate), algorithm: args.assertion_alg })
    } else {
        LoginMethod::DeviceCode
    };
    let scopes = args.scopes.as_deref().map(|s| Scopes::parse(s, &endpoints.graph_host));
    if scopes.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(CliError::usage("--scopes is empty"));
    }
    let request = LoginRequest { endpoints, tenant, client_id, method, scopes, options: oauth_options(t, ctx)? };
    let cache = TokenCache::in_state_dir(&ctx.state_dir);

    let cancel = CancellationToken::new();
    let on_ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let mut on_event = |event: DeviceCodeEvent<'_>| match event {
        DeviceCodeEvent::Prompt(code) => {
            let minutes = ((code.expires_at - Utc::now()).num_seconds().max(0) + 59) / 60;
            errln!("To sign in, open {} and enter the code {} (valid for {minutes} min).", code.verification_uri, code.user_code);
            errln!("Waiting for the sign-in to be approved... (Ctrl-C to cancel)");
        }
        DeviceCodeEvent::Pending => {}
        DeviceCodeEvent::SlowDown { interval } => tracing::info!("polling every {} s", interval.as_secs()),
    };
    let result = oauth::login(&request, &cache, &mut on_event, &cancel).await;
    on_ctrl_c.abort();
    let entry = result.map_err(oauth_error)?;
    let summary = SignInSummary::of(&entry);
    if ctx.json() {
        let mut v = serde_json::to_value(&summary).map_err(|e| CliError::failure(e.to_string()))?;
        v["cache"] = serde_json::Value::String(cache.path().display().to_string());
        ctx.print_json(&v)?;
    } else {
        outln!("Signed in as {}.", who(&summary));
        print_summary(&summary);
        outln!("Cached in:   {}", cache.path().display());
    }
    Ok(Exit::Ok)
}

/// `keystation logout`: forget cached sign-ins (local only).
pub async fn run_logout(args: LogoutArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let cache = TokenCache::in_state_dir(&ctx.state_dir);
    let removed = oauth::logout(&cache, &filter(&args.tenant, args.account.as_ref())?, args.all).await.map_err(oauth_error)?;
    if ctx.json() {
        let keys: Vec<serde_json::Value> = removed
            .iter()
            .map(|k| serde_json::json!({"account": k.account, "tenant": k.tenant, "client_id": k.client_id, "authority": k.authority}))
            .collect();
        ctx.print_json(&serde_json::json!({ "removed": keys }))?;
    } else if removed.is_empty() {
        outln!("No cached sign-in matched; nothing to forget.");
    } else {
        for k in &removed {
            outln!("Forgot {} (tenant {}, client {}).", k.account, k.tenant, k.client_id);
        }
        outln!("Note: this only deletes the local token cache entry; tokens already issued stay valid until they expire.");
    }
    Ok(Exit::Ok)
}

/// `keystation whoami`: show cached sign-ins, renewing or dropping expired ones.
pub async fn run_whoami(args: WhoamiArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let cache = TokenCache::in_state_dir(&ctx.state_dir);
    let f = filter(&args.tenant, args.account.as_ref())?;
    let found = oauth::whoami(&cache, &f, &oauth_options(&args.tenant, ctx)?, Duration::from_secs(60)).await.map_err(oauth_error)?;
    let live: Vec<_> = found.iter().filter(|e| e.status != "dropped").collect();
    if ctx.json() {
        ctx.print_json(&serde_json::json!({ "signed_in": !live.is_empty(), "sign_ins": found }))?;
        // One JSON document on stdout; the exit code says "not signed in".
        return Ok(if live.is_empty() { Exit::EntraError } else { Exit::Ok });
    } else {
        for e in &found {
            if e.status == "dropped" {
                outln!("The sign-in of {} had expired and could not be renewed; it was removed.", who(&e.sign_in));
                continue;
            }
            outln!("Signed in as {}{}.", who(&e.sign_in), if e.status == "renewed" { " (token renewed just now)" } else { "" });
            print_summary(&e.sign_in);
            outln!();
        }
    }
    if live.is_empty() {
        return Err(CliError::new(Exit::EntraError, format!("not signed in (no usable sign-in in {}); run keystation login", cache.path().display())));
    }
    Ok(Exit::Ok)
}

fn who(s: &SignInSummary) -> String {
    match (s.app_only, &s.display_name) {
        (true, Some(name)) => format!("the app \"{name}\" (app-only, {})", s.grant.replace('_', " ")),
        (true, None) => format!("app {} (app-only, {})", s.client_id, s.grant.replace('_', " ")),
        (false, Some(name)) => format!("{} ({name}, delegated)", s.account),
        (false, None) => format!("{} (delegated)", s.account),
    }
}

fn print_summary(s: &SignInSummary) {
    outln!("Tenant:      {}{}", s.tenant_id.as_deref().unwrap_or(&s.tenant), if s.tenant_id.as_deref().is_some_and(|t| t != s.tenant) { format!(" ({})", s.tenant) } else { String::new() });
    outln!("Authority:   {}", s.authority);
    outln!("Client:      {}", s.client_id);
    if !s.token_readable {
        outln!("Permissions: unknown (the access token is not a readable JWT)");
    } else if s.app_only {
        outln!("Permissions: {} (application roles)", if s.roles.is_empty() { "none".into() } else { s.roles.join(" ") });
    } else {
        outln!("Permissions: {} (delegated scopes)", if s.scopes.is_empty() { "none".into() } else { s.scopes.join(" ") });
        if !s.directory_roles.is_empty() {
            outln!("Admin roles: {}", s.directory_roles.join(", "));
        }
    }
    let left = s.expires_in_seconds;
    let when = s.expires_at.format("%Y-%m-%d %H:%M:%S UTC");
    if left > 0 {
        outln!("Expires:     {when} (in {} min){}", left / 60, if s.refreshable { ", renewable" } else { "" });
    } else {
        outln!("Expires:     {when} (expired){}", if s.refreshable { ", renewable" } else { "" });
    }
}
