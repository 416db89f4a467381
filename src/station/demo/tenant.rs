//! A whole simulated world for the demo, the station benchmark and the modes' tests:
//! the Entra simulator in-process (built-in Contoso tenant, plus as many extra pilot
//! users as asked for), a CA for the virtual keys' attestation that the simulator trusts,
//! and a station configured against it (embedded defaults + the simulator's URLs and its
//! unattended app's client secret).
use crate::entra::simulator::seed::UserSeed;
use crate::entra::simulator::{self, FaultConfig, SimulatorConfig, SimulatorHandle, TenantSeed};
use crate::key::sources::KeySources;
use crate::key::virtual_key::{AttestationCa, Touch, VirtualAttestation, VirtualKey, VirtualKeyConfig};
use crate::station::config::{ConfigLoader, ConfigOverrides, StationConfig};
use crate::entra::oauth::{Authority, ClientCredential, ClientCredentialsProvider, OAuthClient, Scopes, TokenCache};
use crate::secret::SecretString;
use crate::station::journal::{Journal, SharedJournal};
use crate::station::pipeline::{ConnectOptions, Station, StationError, StationSetup};
use crate::station::setup::Connection;
use url::Url;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The built-in tenant's unattended app (client secret).
pub const DEMO_CLIENT_ID: &str = crate::entra::simulator::seed::well_known::STATION_APP_ID;
/// Its secret: part of the simulator's published built-in tenant, not a real credential.
pub const DEMO_CLIENT_SECRET: &str = crate::entra::simulator::seed::well_known::STATION_APP_SECRET;
/// The Graph resource tokens are asked for (the simulator, like Entra, knows no other).
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// File in the state directory that holds the secret for `sign_in.secret_file` (0600).
pub const DEMO_SECRET_FILE: &str = "simulator-client-secret";
/// The built-in tenant's pilot users who can get a key on the Graph path, in demo order.
pub const BUILTIN_PILOT_USERS: &[&str] =
    &["alice@contoso.test", "bob@contoso.test", "carol@contoso.test", "dave@contoso.test", "conor.o'brien@contoso.test", "kim@contoso.test"];
/// The pilot group every generated user joins.
const PILOT_GROUP: &str = "FIDO2 Pilot";
/// Given names for generated users (the demo table reads better than user0042).
const GIVEN_NAMES: &[&str] = &[
    "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "ursula", "victor",
    "walter", "xena", "yusuf", "zoe",
];

/// What the simulated tenant should hold.
#[derive(Debug, Clone)]
pub struct SimulatedTenantOptions {
    /// Provisionable users wanted: the built-in pilot users first, then generated ones
    /// (`erin.demo@contoso.test`, …) added to the pilot group.
    pub users: usize,
    /// Faults injected from the start.
    pub faults: FaultConfig,
    /// Enforce attestation in the FIDO2 policy (the virtual keys' CA is trusted either way).
    pub attestation_enforced: bool,
}

impl Default for SimulatedTenantOptions {
    fn default() -> Self {
        SimulatedTenantOptions { users: BUILTIN_PILOT_USERS.len(), faults: FaultConfig::default(), attestation_enforced: false }
    }
}

/// The simulator, its users and the virtual keys' CA. Dropping it stops the simulator.
pub struct SimulatedTenant {
    /// The running simulator (test control, faults, request log).
    pub sim: SimulatorHandle,
    /// Signs the virtual keys' batch attestation; trusted by the simulator.
    pub ca: Arc<AttestationCa>,
    users: Vec<String>,
}

impl std::fmt::Debug for SimulatedTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedTenant").field("addr", &self.sim.addr()).field("users", &self.users.len()).finish()
    }
}

/// The `n`-th generated user's UPN (0-based).
pub fn generated_user(n: usize) -> String {
    let name = GIVEN_NAMES[n % GIVEN_NAMES.len()];
    match n / GIVEN_NAMES.len() {
        0 => format!("{name}.demo@contoso.test"),
        round => format!("{name}{}.demo@contoso.test", round + 1),
    }
}

impl SimulatedTenant {
    /// Start the simulator on 127.0.0.1 (free port).
    pub async fn start(options: SimulatedTenantOptions) -> Result<SimulatedTenant, String> {
        let ca = Arc::new(AttestationCa::generate().map_err(|e| format!("cannot make the virtual keys' attestation CA: {e}"))?);
        let mut seed = TenantSeed::builtin();
        let mut users: Vec<String> = BUILTIN_PILOT_USERS.iter().take(options.users).map(|u| u.to_string()).collect();
        let extra = options.users.saturating_sub(users.len());
        for n in 0..extra {
            let upn = generated_user(n);
            add_pilot_user(&mut seed, &upn)?;
            users.push(upn);
        }
        seed.policies.fido2.attestation_enforced |= options.attestation_enforced;
        let config = SimulatorConfig { tenant: seed, faults: options.faults, extra_trusted_roots: vec![ca.certificate_pem().to_string()], ..SimulatorConfig::default() };
        let sim = simulator::start(config).await.map_err(|e| e.to_string())?;
        Ok(SimulatedTenant { sim, ca, users })
    }

    /// The provisionable users, in order.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// Overrides that point the embedded default configuration at the simulator, signing
    /// in as the tenant's unattended app with the secret in `secret_file`.
    pub fn config_overrides(&self, secret_file: &Path) -> ConfigOverrides {
        let host = self.sim.authority_host().to_string();
        ConfigOverrides {
            tenant_id: Some(self.sim.tenant_id().to_string()),
            client_id: Some(DEMO_CLIENT_ID.into()),
            authority_host: Some(host.clone()),
            graph_host: Some(self.sim.graph_base().to_string()),
            set: vec!["tenant.sign_in.method=client-secret".into(), format!("tenant.sign_in.secret_file={}", secret_file.display())],
            ..ConfigOverrides::default()
        }
    }

    /// A configuration file's text that points a station at this simulator, signing in
    /// as the unattended app with the secret in `secret_file` (see
    /// [`SimulatedTenant::write_secret`]). `extra` is appended (more TOML).
    pub fn config_toml(&self, secret_file: &Path, extra: &str) -> String {
        let host = self.sim.authority_host().to_string();
        let host = host.trim_end_matches('/');
        format!(
            "# keystation against the Entra simulator at {host}\n[tenant]\nid = \"{tenant}\"\nclient_id = \"{DEMO_CLIENT_ID}\"\nauthority_host = \"{host}\"\ngraph_host = \"{host}\"\n\n[tenant.sign_in]\nmethod = \"client-secret\"\nsecret_file = {secret:?}\n\n{extra}\n",
            tenant = self.sim.tenant_id(),
            secret = secret_file.display().to_string(),
        )
    }

    /// Write the app secret to `<state_dir>/simulator-client-secret` (0600) and return
    /// its path.
    pub fn write_secret(&self, state_dir: &Path) -> Result<PathBuf, String> {
        create_private_dir(state_dir)?;
        let path = state_dir.join(DEMO_SECRET_FILE);
        crate::station::report::write_private_file(&path, DEMO_CLIENT_SECRET.as_bytes()).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// The station configuration: embedded defaults, then `extra`'s settings (`--set`
    /// pairs and typed options), then the simulator's tenant.
    pub fn station_config(&self, state_dir: &Path, extra: &ConfigOverrides) -> Result<StationConfig, String> {
        let secret = self.write_secret(state_dir)?;
        let mut overrides = self.config_overrides(&secret);
        let mut set = extra.set.clone();
        set.append(&mut overrides.set);
        let merged = ConfigOverrides {
            tenant_id: overrides.tenant_id,
            client_id: overrides.client_id,
            authority_host: overrides.authority_host,
            graph_host: overrides.graph_host,
            set,
            ..extra.clone()
        };
        let loaded = ConfigLoader::new().embedded_default().overrides(merged).load().map_err(|e| e.to_string())?;
        Ok(loaded.config)
    }

    /// Open a station against the simulator with its journal in `state_dir`. `adjust`
    /// may change the setup (options, crash point, registrars) before it opens.
    pub async fn open_station(
        &self,
        state_dir: &Path,
        extra: &ConfigOverrides,
        sources: Option<KeySources>,
        adjust: impl FnOnce(&mut StationSetup),
    ) -> Result<Arc<Station>, StationError> {
        let config = self.station_config(state_dir, extra).map_err(StationError::Config)?;
        let connection = Connection::new(&config, &ConnectOptions::default())?;
        let journal = SharedJournal::new(Journal::open(config.journal.resolve(state_dir))?);
        // The token is for the Graph resource (as in Entra), while the calls go to the
        // simulator's address.
        let config_err = |e: crate::entra::oauth::OAuthError| StationError::Config(e.to_string());
        let authority = Authority::new(self.sim.authority_host(), self.sim.tenant_id()).map_err(config_err)?;
        let oauth = OAuthClient::new(authority, DEMO_CLIENT_ID, &connection.oauth_options()).map_err(config_err)?;
        let resource = Url::parse(GRAPH_RESOURCE).map_err(|e| StationError::Config(e.to_string()))?;
        let tokens = ClientCredentialsProvider::new(oauth, ClientCredential::Secret(SecretString::new(DEMO_CLIENT_SECRET)), Scopes::graph_default(&resource))
            .with_cache(TokenCache::in_state_dir(state_dir));
        let graph = connection.graph_client(Arc::new(tokens))?;
        let mut setup = StationSetup::new(config, state_dir, journal, graph)?;
        setup.sources = sources;
        adjust(&mut setup);
        Ok(Arc::new(Station::open(setup).await?))
    }

    /// A blank virtual key with batch attestation from [`SimulatedTenant::ca`], whose
    /// scripted user touches as `touch` says. Plug it into a hub to use it.
    pub fn blank_key(&self, touch: Touch) -> Result<VirtualKey, String> {
        let config = VirtualKeyConfig { touch, attestation: VirtualAttestation::Batch(Arc::clone(&self.ca)), ..VirtualKeyConfig::default() };
        VirtualKey::try_new(config).map_err(|e| format!("cannot start a virtual key: {e}"))
    }
}

fn add_pilot_user(seed: &mut TenantSeed, upn: &str) -> Result<(), String> {
    let local = upn.split('@').next().unwrap_or(upn);
    let given = local.split('.').next().unwrap_or(local);
    let mut display = given.to_string();
    if let Some(first) = display.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    seed.users.push(UserSeed {
        upn: upn.to_string(),
        id: None,
        display_name: format!("{display} Demo"),
        given_name: Some(display),
        surname: Some("Demo".into()),
        mail: None,
        job_title: Some("New starter".into()),
        guest: false,
        account_enabled: true,
        roles: Vec::new(),
        mfa_on_signin: true,
        proof_up_required: false,
        max_security_keys: None,
        ceremony: None,
        fido2_methods: Vec::new(),
    });
    let group = seed.groups.iter_mut().find(|g| g.name == PILOT_GROUP).ok_or("the built-in tenant has no FIDO2 Pilot group")?;
    group.members.push(upn.to_string());
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_users_are_distinct_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..60 {
            let u = generated_user(n);
            assert!(crate::station::batch::check_upn(&u).is_ok(), "{u}");
            assert!(seen.insert(u));
        }
    }
}
