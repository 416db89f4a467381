//! Client credentials with a client secret and with certificates (PS256/x5t#S256 and
//! RS256/x5t), and the errors an operator can run into.
use super::common::*;
use keystation::entra::oauth::{AssertionAlgorithm, ClientCertificate, ClientCredential, ClientCredentialsProvider, OAuthError, OAuthErrorKind, Scopes, TokenProvider};
use keystation::secret::SecretString;
use reqwest::Url;
use std::sync::Arc;

fn certificate(sim: &keystation::entra::simulator::SimulatorHandle, algorithm: AssertionAlgorithm) -> ClientCredential {
    let generated = sim.generated_certificates().iter().find(|c| c.client_id == CERT_APP).expect("the simulator generates the certificate app's key pair");
    let cert = ClientCertificate::from_pem(generated.certificate_pem.as_bytes(), generated.private_key_pem.expose().as_bytes()).unwrap();
    ClientCredential::Certificate { certificate: Arc::new(cert), algorithm }
}

#[tokio::test]
async fn a_client_secret_gets_an_app_only_token() {
    let sim = sim().await;
    let tokens = app_token(&sim, SECRET_APP, SECRET).await;
    assert!(tokens.refresh_token.is_none(), "client credentials never return a refresh token");
    let claims = tokens.claims().unwrap();
    assert!(claims.is_app_only());
    assert_eq!(claims.client_id(), Some(SECRET_APP));
    assert!(claims.roles.iter().any(|r| r == "UserAuthenticationMethod.ReadWrite.All"), "{:?}", claims.roles);
    assert!(tokens.expires_at > chrono::Utc::now() + chrono::Duration::minutes(50));
}

#[tokio::test]
async fn certificate_assertions_work_with_ps256_and_rs256() {
    let sim = sim().await;
    for alg in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
        let tokens = oauth(&sim, CERT_APP).client_credentials(&certificate(&sim, alg), &graph_default_scope(&sim)).await.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let claims = tokens.claims().unwrap();
        assert_eq!(claims.client_id(), Some(CERT_APP), "{alg:?}");
        assert!(claims.roles.iter().any(|r| r == "UserAuthMethod-Passkey.ReadWrite.All"), "{alg:?}: {:?}", claims.roles);
    }
    // Retried attempts sign a fresh assertion each time (the simulator refuses a reused jti).
    sim.set_faults(keystation::entra::simulator::FaultConfig {
        seed: 1,
        rules: vec![{
            let mut r = keystation::entra::simulator::FaultRule::new(keystation::entra::simulator::FaultKind::Unavailable, "token");
            r.times = Some(1);
            r.retry_after_secs = Some(0);
            r
        }],
    })
    .unwrap();
    oauth(&sim, CERT_APP).client_credentials(&certificate(&sim, AssertionAlgorithm::Ps256), &graph_default_scope(&sim)).await.unwrap();
}

#[tokio::test]
async fn an_unregistered_certificate_is_refused_with_a_hint() {
    let sim = sim().await;
    // A valid certificate and key that the app registration does not know.
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let key_pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, rsa::pkcs8::LineEnding::LF).unwrap().to_string();
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["stranger".into()]).unwrap().self_signed(&kp).unwrap();
    let credential = ClientCredential::certificate(ClientCertificate::from_pem(cert.pem().as_bytes(), key_pem.as_bytes()).unwrap());
    let err = oauth(&sim, CERT_APP).client_credentials(&credential, &graph_default_scope(&sim)).await.unwrap_err();
    assert_eq!(err.kind(), Some(OAuthErrorKind::InvalidClient), "{err:?}");
    assert!(err.to_string().contains("Certificates & secrets"), "{err}");
}

#[tokio::test]
async fn a_wrong_secret_and_a_public_client_secret_are_explained() {
    let sim = sim().await;
    let wrong = oauth(&sim, SECRET_APP).client_credentials(&ClientCredential::Secret(SecretString::new("nope")), &graph_default_scope(&sim)).await.unwrap_err();
    assert_eq!(wrong.kind(), Some(OAuthErrorKind::InvalidClient), "{wrong:?}");
    assert!(wrong.to_string().contains("secret"), "{wrong}");
    assert!(!wrong.to_string().contains("nope"), "the secret must not be echoed: {wrong}");
    let public = oauth(&sim, OPERATOR_APP).client_credentials(&ClientCredential::Secret(SecretString::new("x")), &graph_default_scope(&sim)).await.unwrap_err();
    assert!(public.to_string().contains("public client"), "{public}");
}

#[tokio::test]
async fn app_only_scopes_must_be_dot_default_and_are_checked_before_sending() {
    let sim = sim().await;
    let scopes = Scopes::parse("User.Read.All", &Url::parse("https://graph.microsoft.com").unwrap());
    let err = oauth(&sim, SECRET_APP).client_credentials(&ClientCredential::Secret(SecretString::new(SECRET)), &scopes).await.unwrap_err();
    assert!(matches!(err, OAuthError::Config(_)), "{err:?}");
    assert!(err.to_string().contains(".default"));
    assert!(sim.requests(None).is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_app_only_provider_reuses_its_token_until_renewal() {
    let sim = sim().await;
    let provider = ClientCredentialsProvider::new(oauth(&sim, SECRET_APP), ClientCredential::Secret(SecretString::new(SECRET)), graph_default_scope(&sim));
    let a = provider.access_token().await.unwrap();
    let b = provider.access_token().await.unwrap();
    assert_eq!(a, b);
    let token_calls = || sim.requests(Some(&format!("/{}/oauth2/v2.0/token", sim.tenant_id()))).len();
    assert_eq!(token_calls(), 1);
    let c = provider.renew().await.unwrap().expect("app-only tokens can always be renewed");
    assert_ne!(a, c);
    assert_eq!(token_calls(), 2);
}
