//! Configuration: file → environment → overrides, and error messages for bad values.
use crate::common::write_file;
use keystation::station::config::{Cloud, ConfigError, ConfigLoader, ConfigOverrides, Origin, RegistrationPath, SignIn, SecretSource};
use keystation::station::pin::PinSource;

const FULL: &str = r#"
use_tenant = "default"

[tenant]
id = "contoso.onmicrosoft.com"
client_id = "6f1c3e2a-9b7d-4c1e-8a2f-0d3b5c7e9f11"
cloud = "global"
api_version = "beta"
registration = "browser"
challenge_timeout_minutes = 30
min_pin_length = 6
[tenant.sign_in]
method = "client-secret"
secret_env = "CONTOSO_STATION_SECRET"

[tenants.fabrikam]
id = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
client_id = "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"
cloud = "us-gov"
[tenants.fabrikam.sign_in]
method = "certificate"
certificate = "certs/fabrikam.pem"
private_key = "certs/fabrikam.key"

[pin]
source = "random"
length = 8
min_length = 6
alphabet = "digits"
set_min_length_on_key = 6
force_change = true

[display_name]
template = "{model} {serial}"

[tap]
registration_lifetime_minutes = 60
one_time = true
handover = true
lifetime_minutes = 480

[reset]
policy = "if-pin-set"
if_pin_unknown = "refuse"

[handover]
show_once = true
recipients = []
in_report = true

[journal]
path = "journal.sqlite"

[browser]
headless = true
fallback_to_manual = true

[batch]
concurrency = 6

[[models]]
aaguid = "00112233-4455-6677-8899-aabbccddeeff"
vendor = "ACME"
name = "ACME Desk Key"
short = "ACME"
"#;

#[test]
fn documented_example_file_loads_with_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "keystation.toml", FULL);
    let l = ConfigLoader::new().file(&p).load().unwrap();
    let c = &l.config;
    let t = c.require_tenant().unwrap();
    assert_eq!(t.registration, RegistrationPath::Browser);
    assert_eq!(t.graph_base_url(), "https://graph.microsoft.com/beta");
    assert_eq!(t.sign_in().unwrap(), SignIn::ClientSecret { secret: SecretSource::Env("CONTOSO_STATION_SECRET".into()) });
    let fab = &c.tenants["fabrikam"];
    assert_eq!(fab.graph_base_url(), "https://graph.microsoft.us/v1.0");
    match fab.sign_in().unwrap() {
        SignIn::Certificate { certificate, .. } => assert_eq!(certificate, dir.path().join("certs/fabrikam.pem")),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.batch.concurrency, 6);
    assert_eq!(c.model_table().unwrap().lookup("00112233445566778899AABBCCDDEEFF").unwrap().short, "ACME");
    assert!(l.warnings.is_empty());
}

#[test]
fn the_configuration_doc_example_is_valid() {
    // docs/configuration.md carries a complete example; keep it loadable.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    let start = doc.find("```toml\n").expect("a ```toml block in docs/configuration.md") + 8;
    let end = start + doc[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "keystation.toml", &doc[start..end]);
    let l = ConfigLoader::new().file(&p).load().unwrap_or_else(|e| panic!("docs example: {e}"));
    assert!(l.config.require_tenant().is_ok());
}

#[test]
fn file_then_environment_then_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "keystation.toml", FULL);
    let env = [
        ("KEYSTATION_PIN_SOURCE", "user-at-desk"),
        ("KEYSTATION_BATCH_CONCURRENCY", "3"),
        ("KEYSTATION_USE_TENANT", "fabrikam"),
        ("KEYSTATION_TENANT_CLOUD", "china"),
    ];
    let overrides = ConfigOverrides {
        batch_concurrency: Some(2),
        set: vec!["tap.lifetime_minutes=120".into()],
        ..Default::default()
    };
    let l = ConfigLoader::new().file(&p).env(env).overrides(overrides).load().unwrap();
    let c = &l.config;
    assert_eq!(c.pin.source, PinSource::UserAtDesk, "environment beats file");
    assert_eq!(c.batch.concurrency, 2, "command line beats environment");
    assert_eq!(c.tap.lifetime_minutes, 120);
    assert_eq!(c.use_tenant, "fabrikam");
    assert_eq!(c.tenant().unwrap().cloud, Cloud::China, "tenant.* goes to the selected tenant");
    assert_eq!(c.tenant().unwrap().graph_base_url(), "https://microsoftgraph.chinacloudapi.cn/v1.0");
    assert_eq!(c.tenant.as_ref().unwrap().cloud, Cloud::Global, "the default tenant kept its own value");
    assert_eq!(c.pin.length, 8, "untouched keys keep the file's value");
    assert_eq!(l.provenance.origin_of("tenants.fabrikam.cloud"), Origin::Env("KEYSTATION_TENANT_CLOUD".into()));
    assert_eq!(l.provenance.origin_of("batch.concurrency"), Origin::Flag("--concurrency".into()));
    assert_eq!(l.provenance.origin_of("tap.lifetime_minutes"), Origin::Flag("--set tap.lifetime_minutes".into()));
    assert_eq!(l.provenance.origin_of("pin.length"), Origin::File(p));
}

fn load_err(text: &str) -> (ConfigError, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "station.toml", text);
    let e = ConfigLoader::new().file(&p).load().unwrap_err();
    (e, p.display().to_string())
}

#[test]
fn bad_values_in_the_file_name_file_key_and_allowed_values() {
    let (e, path) = load_err("[pin]\nlength = 3\n");
    assert_eq!(e.key(), Some("pin.length"));
    assert_eq!(e.to_string(), format!("configuration file {path}: `pin.length` = 3 is out of range: allowed 4 to 63 (FIDO2 PINs are 4 to 63 characters)"));

    let (e, path) = load_err("[pin]\nalphabet = \"hex\"\n");
    let m = e.to_string();
    assert!(m.starts_with(&format!("configuration file {path}:")), "{m}");
    assert!(m.contains("line 2") && m.contains("unknown variant `hex`") && m.contains("digits") && m.contains("alphanumeric"), "{m}");

    let (e, _) = load_err("[pin]\nlenght = 8\n");
    assert!(e.to_string().contains("unknown field `lenght`") && e.to_string().contains("`length`"), "{e}");

    let (e, _) = load_err("[tenant]\nclient_id = \"my-app\"\n");
    assert!(e.to_string().contains("`tenant.client_id` = \"my-app\" is not an application (client) id"), "{e}");

    let (e, _) = load_err("[tenant]\nchallenge_timeout_minutes = 30\n");
    assert!(e.to_string().contains("needs api_version = \"beta\""), "{e}");

    let (e, _) = load_err("[tenant]\ngraph_host = \"http://graph.example.com\"\n");
    assert!(e.to_string().contains("`tenant.graph_host`") && e.to_string().contains("must use https"), "{e}");

    let (e, _) = load_err("[display_name]\ntemplate = \"{model} {upn} {date} {date}\"\n");
    assert!(e.to_string().contains("cannot fit Entra's 30-character limit"), "{e}");

    let (e, _) = load_err("[handover]\nrecipients = [\"age1notakey\"]\n");
    assert!(e.to_string().contains("`handover.recipients` entry 1") && e.to_string().contains("age-keygen"), "{e}");

    let (e, _) = load_err("[handover]\nshow_once = false\n");
    assert!(e.to_string().contains("would lose every random PIN"), "{e}");

    let (e, _) = load_err("use_tenant = \"lab\"\n");
    assert!(e.to_string().contains("`use_tenant` = \"lab\" names no configured tenant; configured: none"), "{e}");

    let (e, _) = load_err("[tenant.sign_in]\nmethod = \"client-secret\"\n");
    assert!(e.to_string().contains("`tenant.sign_in` method `client-secret` needs"), "{e}");

    let (e, _) = load_err("[batch]\nconcurrency = 0\n");
    assert!(e.to_string().contains("`batch.concurrency` = 0 is out of range: allowed 1 to 32"), "{e}");
}

#[test]
fn a_shared_journal_keeps_every_entra_call_within_a_third_of_the_lease() {
    const SHARED: &str = "[journal]\nurl = \"postgres://station@db.example/keystation\"\nlease_s = 30\n";
    // Chosen too long: refused, naming both keys and the values that would fit.
    let (e, _) = load_err(&format!("{SHARED}[network]\ntimeout_seconds = 10\n"));
    assert_eq!(e.key(), Some("network.timeout_seconds"), "{e}");
    let m = e.to_string();
    assert!(m.contains("= 10 is not below a third of journal.lease_s = 30") && m.contains("at most 9") && m.contains("journal.lease_s to at least 31"), "{m}");
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| ConfigLoader::new().file(write_file(dir.path(), "station.toml", text)).load().unwrap();
    // Chosen and fitting: kept. Not chosen: the default (60 s) shrinks to what fits.
    assert_eq!(load(&format!("{SHARED}[network]\ntimeout_seconds = 9\n")).config.network.timeout_seconds, 9);
    let l = load(SHARED);
    assert_eq!((l.config.network.timeout_seconds, l.provenance.origin_of("network.timeout_seconds")), (9, Origin::Default));
    assert_eq!(load("[journal]\nurl = \"postgres://station@db.example/keystation\"\nlease_s = 5\n").config.network.timeout_seconds, 1);
    // A station's own SQLite journal has no lease: nothing changes.
    assert_eq!(load("[network]\ntimeout_seconds = 600\n").config.network.timeout_seconds, 600);
    assert_eq!(load("").config.network.timeout_seconds, 60);
}

#[test]
fn a_secret_written_into_the_file_is_refused_without_echoing_it() {
    let (e, _) = load_err("[tenant.sign_in]\nmethod = \"client-secret\"\nsecret = \"p4ss-w0rd-value\"\n");
    let m = e.to_string();
    assert!(m.contains("`tenant.sign_in.secret` looks like a secret") && m.contains("secret_env"), "{m}");
    assert!(!m.contains("p4ss-w0rd-value"));
}

#[test]
fn unreadable_and_malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let e = ConfigLoader::new().file(&missing).load().unwrap_err();
    assert!(e.to_string().starts_with(&format!("cannot read the configuration file {}", missing.display())), "{e}");
    let (e, path) = load_err("[pin\nlength = 8\n");
    assert!(e.to_string().starts_with(&format!("configuration file {path}:")) && e.to_string().contains("line 1"), "{e}");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "keystation.toml", FULL);
    let e = ConfigLoader::new().file(&p).env([("KEYSTATION_TENANT_MIN_PIN_LENGTH", "99")]).load().unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable KEYSTATION_TENANT_MIN_PIN_LENGTH: `tenant.min_pin_length` = 99 is out of range: allowed 4 to 63 (FIDO2 PINs are 4 to 63 characters)"
    );
    let e = ConfigLoader::new().file(&p).env([("KEYSTATION_BROWSER_HEADLESS", "maybe")]).load().unwrap_err();
    assert_eq!(e.to_string(), "environment variable KEYSTATION_BROWSER_HEADLESS: `browser.headless` `maybe` is not true or false");
    let e = ConfigLoader::new().file(&p).env([("KEYSTATION_USE_TENANT", "nowhere")]).load().unwrap_err();
    assert!(e.to_string().starts_with("environment variable KEYSTATION_USE_TENANT: `use_tenant`") && e.to_string().contains("default, fabrikam"), "{e}");
}

#[test]
fn every_settable_key_is_documented_with_its_variable() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    for k in keystation::station::config::SETTABLE_KEYS {
        let var = keystation::station::config::env_var_for(k.path);
        assert!(doc.contains(&var), "docs/configuration.md does not list {var}");
        // In the tables a key is written without its section: `length` under [pin],
        // `sign_in.method` under [tenant].
        let in_section = k.path.split_once('.').map(|(_, rest)| rest).unwrap_or(k.path);
        assert!(doc.contains(&format!("`{in_section}`")), "docs/configuration.md does not describe `{in_section}` ({})", k.path);
    }
}
