//! `keystation login`, `logout`, `whoami`: sign in to Entra ID, forget sign-ins, show
//! who is signed in. The work is done by `entra::oauth::session`; this file parses
//! flags, reads secrets (never from argv) and prints.
use crate::cli::enroll::flags::TenantFlags;
use crate::cli::{CliContext, CliError, Exit};
use crate::entra::cloud::{parse_service_url, CloudEndpoints};
use crate::station::config::{signed_in, Origin, SignIn, SignInConfig, SignInMethod, StationConfig, DEFAULT_TENANT};
use crate::entra::oauth::{
    self, AssertionAlgorithm, CacheFilter, ClientCertificate, ClientCredential, DeviceCodeEvent, LoginMethod, LoginRequest, OAuthError, OAuthOptions, Scopes,
    SignInSummary, TokenCache,
};
use crate::secret::SecretString;
use chrono::Utc;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use crate::CancelToken;

/// Flags of `keystation login`.
#[derive(Args, Debug)]
#[command(after_help = "The tenant is the station's: the configured one ([tenant] in the configuration file), or the one these options name.\n\
Without a credential option the configured `sign_in.method` is used (device-code when nothing is configured).\n\
After signing in, commands without a configured tenant use this one (docs/configuration.md, \"The signed-in tenant\").")]
pub struct LoginArgs {
    /// Tenant, client, cloud, hosts and CA bundle (the station's vocabulary).
    #[command(flatten)]
    pub tenant: TenantFlags,
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
    /// Scopes, space- or comma-separated; bare names get the Graph prefix
    /// (default: .default, i.e. the permissions granted to the app registration).
    #[arg(long, value_name = "SCOPES")]
    pub scopes: Option<String>,
}

/// Flags of `keystation logout`.
#[derive(Args, Debug)]
#[command(after_help = "Tenant options narrow which cached sign-ins are forgotten (nothing matching is not an error).")]
pub struct LogoutArgs {
    /// Only sign-ins of this tenant / client / cloud (the station's vocabulary).
    #[command(flatten)]
    pub tenant: TenantFlags,
    /// Only the sign-in of this account (UPN, or "(app-only)").
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
    /// Forget every cached sign-in.
    #[arg(long)]
    pub all: bool,
}

/// Flags of `keystation whoami`.
#[derive(Args, Debug)]
#[command(after_help = "Tenant options narrow which cached sign-ins are shown. Not signed in (or a sign-in that could not be renewed) is exit 5.")]
pub struct WhoamiArgs {
    /// Only sign-ins of this tenant / client / cloud (the station's vocabulary).
    #[command(flatten)]
    pub tenant: TenantFlags,
    /// Only the sign-in of this account (UPN, or "(app-only)").
    #[arg(long, value_name = "UPN")]
    pub account: Option<String>,
}

fn parse_alg(text: &str) -> Result<AssertionAlgorithm, String> {
    AssertionAlgorithm::parse(text).ok_or_else(|| format!("'{text}' is not ps256 or rs256"))
}

/// The station configuration's `[network]` settings (CA bundle, proxy, timeouts), as
/// every other command connects (`--ca-bundle` is `network.ca_bundle`).
fn oauth_options(config: &StationConfig) -> OAuthOptions {
    OAuthOptions { http: config.network.http_options(), ..OAuthOptions::default() }
}

/// The cached sign-ins the tenant options name: the fields given on the command line
/// (or a tenant chosen with `--use-tenant`), resolved through the configuration so that
/// `--cloud us-gov` and `--authority-host URL` mean what they mean everywhere.
fn filter(ctx: &CliContext, t: &TenantFlags, account: Option<&String>) -> Result<(CacheFilter, OAuthOptions), CliError> {
    let loaded = ctx.load_config(t.overrides())?;
    let config = &loaded.config;
    let real = |key: &str| if config.use_tenant == DEFAULT_TENANT { format!("tenant.{key}") } else { format!("tenants.{}.{key}", config.use_tenant) };
    let from_flag = |key: &str| matches!(loaded.provenance.origin_of(&real(key)), Origin::Flag(_));
    let chosen = matches!(loaded.provenance.origin_of("use_tenant"), Origin::Flag(_));
    let tenant = config.tenant();
    let pick = |key: &str, value: Option<String>| if chosen || from_flag(key) { value } else { None };
    let filter = CacheFilter {
        authority: if chosen || from_flag("authority_host") || from_flag("cloud") { tenant.map(|t| t.authority_host()) } else { None },
        tenant: pick("id", tenant.and_then(|t| t.id.clone())),
        client_id: pick("client_id", tenant.and_then(|t| t.client_id.clone())),
        account: account.cloned(),
    };
    Ok((filter, oauth_options(config)))
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

/// `keystation login`: sign in to the station's tenant and cache the token.
pub async fn run_login(args: LoginArgs, ctx: &CliContext) -> Result<Exit, CliError> {
    let loaded = ctx.load_config(args.tenant.overrides())?;
    let mut tenant = loaded
        .config
        .require_tenant()
        .map_err(|e| CliError::usage(e).with_next_step("give --tenant-id ID and --client-id GUID, or configure the tenant (`keystation config init`, docs/configuration.md)"))?
        .clone();
    let tenant_id = tenant.id.clone().unwrap_or_default();
    let client_id = tenant.client_id.clone().unwrap_or_default();
    let authority_host = parse_service_url(&tenant.authority_host(), "authority").map_err(|e| CliError::usage(format!("tenant `authority_host`: {e}")))?;
    // Tokens name the cloud's Graph resource even when `graph_host` points the calls at a
    // proxy or the simulator: the same scopes the station asks for (station::setup).
    let resource = parse_service_url(tenant.cloud.graph_host(), "Graph").map_err(|e| CliError::usage(e.to_string()))?;
    let endpoints = CloudEndpoints { cloud: Some(tenant.cloud), authority_host, graph_host: resource };
    let flag_credential = args.client_secret_env.is_some() || args.client_secret_file.is_some() || args.certificate.is_some();
    let method = if let Some(secret) = read_client_secret(args.client_secret_env.as_deref(), args.client_secret_file.as_ref())? {
        tenant.sign_in = SignInConfig { method: SignInMethod::ClientSecret, secret_env: args.client_secret_env.clone(), secret_file: args.client_secret_file.clone(), ..SignInConfig::default() };
        LoginMethod::AppOnly(ClientCredential::Secret(secret))
    } else if let (Some(cert), Some(key)) = (&args.certificate, &args.private_key) {
        tenant.sign_in = SignInConfig { method: SignInMethod::Certificate, certificate: Some(cert.clone()), private_key: Some(key.clone()), ..SignInConfig::default() };
        let certificate = ClientCertificate::from_files(cert, key).map_err(oauth_error)?;
        LoginMethod::AppOnly(ClientCredential::Certificate { certificate: std::sync::Arc::new(certificate), algorithm: args.assertion_alg })
    } else if args.device_code || flag_credential {
        tenant.sign_in = SignInConfig::default();
        LoginMethod::DeviceCode
    } else {
        // The configured sign-in method.
        match tenant.sign_in().map_err(|e| CliError::usage(format!("tenant `sign_in`: {e}")))? {
            SignIn::DeviceCode => LoginMethod::DeviceCode,
            SignIn::ClientSecret { secret } => LoginMethod::AppOnly(ClientCredential::Secret(secret.read().map_err(CliError::usage)?)),
            SignIn::Certificate { certificate, private_key } => {
                let c = ClientCertificate::from_files(&certificate, &private_key).map_err(oauth_error)?;
                LoginMethod::AppOnly(ClientCredential::Certificate { certificate: std::sync::Arc::new(c), algorithm: args.assertion_alg })
            }
        }
    };
    let scopes = args.scopes.as_deref().map(|s| Scopes::parse(s, &endpoints.graph_host));
    if scopes.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(CliError::usage("--scopes is empty"));
    }
    let request = LoginRequest { endpoints, tenant: tenant_id, client_id, method, scopes, options: oauth_options(&loaded.config) };
    let cache = TokenCache::in_state_dir(&ctx.state_dir);

    let cancel = CancelToken::new();
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
    // The commands after this one use this tenant when none is configured.
    let record = signed_in::write_record(&ctx.state_dir, &tenant).map_err(|e| CliError::failure(format!("signed in, but cannot record the tenant in {}: {e}", ctx.state_dir.display())))?;
    tracing::info!("signed-in tenant recorded in {}", record.display());
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
    let removed = oauth::logout(&cache, &filter(ctx, &args.tenant, args.account.as_ref())?.0, args.all).await.map_err(oauth_error)?;
    // The signed-in tenant record goes with its sign-in.
    if let Some((tenant, client)) = signed_in::recorded(&ctx.state_dir)
        && removed.iter().any(|k| k.tenant.eq_ignore_ascii_case(&tenant) && k.client_id.eq_ignore_ascii_case(&client))
    {
        signed_in::remove_record(&ctx.state_dir).map_err(|e| CliError::failure(format!("cannot remove the signed-in tenant record: {e}")))?;
    }
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
    let (f, options) = filter(ctx, &args.tenant, args.account.as_ref())?;
    let found = oauth::whoami(&cache, &f, &options, Duration::from_secs(60)).await.map_err(oauth_error)?;
    let live: Vec<_> = found.iter().filter(|e| e.status != "dropped").collect();
    if ctx.json() {
        // Signed out is an error (exit 5) with the error envelope; what was found (e.g.
        // dropped sign-ins) stays in `result`.
        ctx.print_json(&serde_json::json!({ "signed_in": !live.is_empty(), "sign_ins": found }))?;
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
