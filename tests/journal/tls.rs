//! A shared journal behind TLS with a private CA: trusted through `journal.ca_file`,
//! refused with any other trust (the platform's roots, another CA). TLS is never switched
//! off for a database reached this way.
use crate::postgres;
use keystation::secret::SecretString;
use keystation::station::journal::{Journal, PgSettings};

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it: (CA PEM,
/// certificate PEM, key PEM).
fn private_ca(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn a_database_behind_a_private_ca_is_trusted_only_through_ca_file() {
    // Its own cluster: turning TLS on must not change the shared one under other tests.
    let Some(cluster) = postgres::start() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (ca_pem, cert_pem, key_pem) = private_ca("keystation journal test CA");
    cluster.enable_tls(&cert_pem, &key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("db-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let (other_ca, _, _) = private_ca("some other CA");
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, &other_ca).unwrap();

    // No sslmode in the URL: verified TLS, the default.
    let url = cluster.create_database("tls");
    let settings = |ca: Option<&std::path::Path>| {
        let mut s = PgSettings::new(url.clone());
        s.password = Some(SecretString::new(cluster.password().to_string()));
        s.ca_file = ca.map(|p| p.to_path_buf());
        s
    };

    let journal = Journal::connect_postgres(settings(Some(&ca_file))).expect("the private CA in journal.ca_file is trusted");
    let status = journal.queue_status("nobody-loaded-this").expect("a query over TLS");
    assert_eq!(status.counts.pending, 0);
    // The connection really is TLS: the server says so for this session.
    let db = url.rsplit('/').next().unwrap();
    let tls_sessions = cluster.psql(db, "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.datname = current_database() AND a.pid <> pg_backend_pid()");
    assert_ne!(tls_sessions, "0", "no TLS session to the journal's database");
    drop(journal);

    for (trust, what) in [(None, "the platform's roots"), (Some(other_file.as_path()), "another CA")] {
        let err = match Journal::connect_postgres(settings(trust)) {
            Ok(_) => panic!("a server certificate from a private CA was accepted with {what}"),
            Err(e) => e.to_string(),
        };
        assert!(!err.contains(cluster.password()), "the password is in the error: {err}");
        assert!(err.to_lowercase().contains("certificate") || err.to_lowercase().contains("tls"), "{what}: the error does not say it is about TLS: {err}");
    }
}
