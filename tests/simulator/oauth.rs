//! The authority: device code, client credentials (secret, assertion), refresh, errors.
use super::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn devicecode(sim: &keystation::entra::simulator::SimulatorHandle, scope: &str) -> Value {
    let r = http()
        .post(url(sim, &format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .form(&[("client_id", OPERATOR_APP), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    json_of(r).await
}

async fn poll(sim: &keystation::entra::simulator::SimulatorHandle, device_code: &str) -> reqwest::Response {
    http()
        .post(token_url(sim))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", OPERATOR_APP), ("device_code", device_code)])
        .send()
        .await
        .unwrap()
}

/// Assert an identity-platform error body and return it.
async fn sts_error(r: reqwest::Response, status: u16, error: &str, code: u64) -> Value {
    assert_eq!(r.status().as_u16(), status);
    let body = json_of(r).await;
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}:")), "{desc}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[k].is_string(), "{k} missing in {body}");
    }
    body
}

#[tokio::test]
async fn device_code_is_pending_until_approved_then_issues_tokens() {
    let sim = sim().await;
    let dc = devicecode(&sim, &format!("{GRAPH_DEFAULT} offline_access openid")).await;
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 0);
    let user_code = dc["user_code"].as_str().unwrap();
    assert!(dc["verification_uri"].as_str().unwrap().ends_with("/devicelogin"));
    assert!(dc["message"].as_str().unwrap().contains(user_code));

    let code = dc["device_code"].as_str().unwrap();
    sts_error(poll(&sim, code).await, 400, "authorization_pending", 70016).await;

    sim.approve_device_code(user_code, "paul.privauth@contoso.test").unwrap();
    let r = poll(&sim, code).await;
    assert_eq!(r.status(), 200);
    let t = json_of(r).await;
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["refresh_token"].is_string(), "offline_access gives a refresh token");
    assert!(t["id_token"].is_string(), "openid gives an id token");
    let c = jwt_claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["upn"], "paul.privauth@contoso.test");
    assert_eq!(c["idtyp"], "user");
    assert!(c["scp"].as_str().unwrap().contains("UserAuthenticationMethod.ReadWrite.All"));
    assert!(c["wids"].as_array().unwrap().contains(&json!("7be44c8a-adaf-4e2a-84d6-ab2649e08a13")));
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());

    // A device code is good for one redemption.
    sts_error(poll(&sim, code).await, 400, "invalid_grant", 54005).await;
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let sim = sim().await;
    let t = delegated_token(&sim, "anna.authadmin@contoso.test", GRAPH_DEFAULT).await;
    assert!(t["access_token"].is_string());
    assert!(t.get("refresh_token").is_none(), "{t}");
}

#[tokio::test]
async fn device_code_slow_down_decline_expiry_and_unknown_code() {
    let sim = sim_with(|c| {
        c.behaviour.device_code_interval_secs = 30;
        c.behaviour.slow_down_increment_secs = 5;
    })
    .await;
    let dc = devicecode(&sim, GRAPH_DEFAULT).await;
    let code = dc["device_code"].as_str().unwrap();
    sts_error(poll(&sim, code).await, 400, "authorization_pending", 70016).await;
    let b = sts_error(poll(&sim, code).await, 400, "slow_down", 50196).await;
    assert!(b["error_description"].as_str().unwrap().contains("add 5 seconds"), "{b}");
    // A client that adds the increment is on time again (the required interval does not grow).
    sim.advance_clock(chrono::Duration::seconds(35));
    sts_error(poll(&sim, code).await, 400, "authorization_pending", 70016).await;
    sim.advance_clock(chrono::Duration::seconds(35));
    sts_error(poll(&sim, code).await, 400, "authorization_pending", 70016).await;
    // Polling faster than advertised is always refused.
    sim.advance_clock(chrono::Duration::seconds(29));
    sts_error(poll(&sim, code).await, 400, "slow_down", 50196).await;

    let dc2 = devicecode(&sim, GRAPH_DEFAULT).await;
    let r = http().post(url(&sim, "/_sim/device-codes/decline")).json(&json!({"user_code": dc2["user_code"]})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    sts_error(poll(&sim, dc2["device_code"].as_str().unwrap()).await, 400, "authorization_declined", 70000).await;

    sim.advance_clock(chrono::Duration::seconds(901));
    sts_error(poll(&sim, code).await, 400, "expired_token", 70019).await;
    sts_error(poll(&sim, "SIMDC.nonsense").await, 400, "bad_verification_code", 70000).await;
    // Approving an expired code is refused too.
    let r = http()
        .post(url(&sim, "/_sim/device-codes/approve"))
        .json(&json!({"user_code": dc["user_code"], "account": "gladys.admin@contoso.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn auto_approve_signs_in_as_the_configured_account() {
    let sim = sim_with(|c| {
        c.auto_approve_device_codes = true;
        c.auto_approve_account = Some("anna.authadmin@contoso.test".into());
    })
    .await;
    let dc = devicecode(&sim, GRAPH_DEFAULT).await;
    let r = poll(&sim, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let c = jwt_claims(json_of(r).await["access_token"].as_str().unwrap());
    assert_eq!(c["upn"], "anna.authadmin@contoso.test");
}

#[tokio::test]
async fn scopes_not_consented_need_consent() {
    let sim = sim().await;
    let dc = devicecode(&sim, "https://graph.microsoft.com/Directory.ReadWrite.All").await;
    sim.approve_device_code(dc["user_code"].as_str().unwrap(), "gladys.admin@contoso.test").unwrap();
    let b = sts_error(poll(&sim, dc["device_code"].as_str().unwrap()).await, 400, "invalid_grant", 65001).await;
    assert_eq!(b["suberror"], "consent_required");
    let r = http()
        .post(url(&sim, &format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .form(&[("client_id", OPERATOR_APP), ("scope", "https://vault.example/.default")])
        .send()
        .await
        .unwrap();
    sts_error(r, 400, "invalid_resource", 500011).await;
}

#[tokio::test]
async fn client_credentials_with_secret_and_its_errors() {
    let sim = sim().await;
    let c = http();
    let cc = |client: &str, secret: Option<&str>, scope: &str, tenant: &str| {
        let mut form = vec![("grant_type", "client_credentials".to_string()), ("client_id", client.to_string()), ("scope", scope.to_string())];
        if let Some(s) = secret {
            form.push(("client_secret", s.to_string()));
        }
        c.post(url(&sim, &format!("/{tenant}/oauth2/v2.0/token"))).header("client-request-id", "11111111-2222-3333-4444-555555555555").form(&form).send()
    };
    let r = cc(SECRET_APP, Some(SECRET), GRAPH_DEFAULT, TENANT).await.unwrap();
    assert_eq!(r.status(), 200);
    let t = json_of(r).await;
    assert!(t.get("refresh_token").is_none());
    let claims = jwt_claims(t["access_token"].as_str().unwrap());
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["appid"], SECRET_APP);
    assert!(claims["roles"].as_array().unwrap().contains(&json!("UserAuthenticationMethod.ReadWrite.All")));
    assert!(claims.get("scp").is_none());

    // The verified domain works as tenant too.
    assert_eq!(cc(SECRET_APP, Some(SECRET), GRAPH_DEFAULT, DOMAIN).await.unwrap().status(), 200);

    let b = sts_error(cc(SECRET_APP, Some("wrong"), GRAPH_DEFAULT, TENANT).await.unwrap(), 401, "invalid_client", 7000215).await;
    assert_eq!(b["correlation_id"], "11111111-2222-3333-4444-555555555555");
    sts_error(cc(SECRET_APP, None, GRAPH_DEFAULT, TENANT).await.unwrap(), 401, "invalid_client", 7000218).await;
    sts_error(cc(OPERATOR_APP, Some("x"), GRAPH_DEFAULT, TENANT).await.unwrap(), 401, "invalid_client", 700025).await;
    sts_error(cc(SECRET_APP, Some(SECRET), "https://graph.microsoft.com/User.Read.All", TENANT).await.unwrap(), 400, "invalid_scope", 70011).await;
    sts_error(cc(SECRET_APP, Some(SECRET), GRAPH_DEFAULT, "organizations").await.unwrap(), 400, "invalid_request", 50194).await;
    sts_error(cc(SECRET_APP, Some(SECRET), GRAPH_DEFAULT, "fabrikam.test").await.unwrap(), 400, "invalid_request", 90002).await;
    sts_error(cc("00000000-0000-0000-0000-00000000abcd", Some("x"), GRAPH_DEFAULT, TENANT).await.unwrap(), 400, "unauthorized_client", 700016).await;
    let r = c.post(token_url(&sim)).form(&[("grant_type", "password"), ("client_id", SECRET_APP), ("client_secret", SECRET)]).send().await.unwrap();
    sts_error(r, 400, "unsupported_grant_type", 70003).await;
    let r = c.post(token_url(&sim)).form(&[("client_id", SECRET_APP)]).send().await.unwrap();
    sts_error(r, 400, "invalid_request", 900144).await;

    // HTTP Basic client authentication.
    let r = c
        .post(token_url(&sim))
        .basic_auth(SECRET_APP, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_DEFAULT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ---------------------------------------------------------------- client assertions

struct Signer {
    key: rsa::RsaPrivateKey,
    der: Vec<u8>,
}

fn generated_signer(sim: &keystation::entra::simulator::SimulatorHandle) -> Signer {
    use rsa::pkcs8::DecodePrivateKey;
    let g = sim.generated_certificates().iter().find(|g| g.client_id == CERT_APP).expect("generated certificate for the certificate app");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(g.private_key_pem.expose()).expect("key");
    let der = keystation::entra::simulator::certs::parse_pem_certificates(&g.certificate_pem).unwrap().remove(0);
    Signer { key, der }
}

/// A second, unregistered RSA key with a self-signed certificate.
fn stranger() -> (Signer, String) {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap()).clone();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap().self_signed(&kp).unwrap();
    (Signer { key, der: cert.der().to_vec() }, cert.pem())
}

fn assertion(signer: &Signer, alg: &str, thumb_header: &str, claims: Value, sign_with: Option<&rsa::RsaPrivateKey>) -> String {
    let thumb = match thumb_header {
        "x5t" => URL_SAFE_NO_PAD.encode(<sha1::Sha1 as Digest>::digest(&signer.der)),
        _ => URL_SAFE_NO_PAD.encode(Sha256::digest(&signer.der)),
    };
    let header = json!({"alg": alg, "typ": "JWT", thumb_header: thumb});
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let digest = Sha256::digest(input.as_bytes());
    let key = sign_with.unwrap_or(&signer.key);
    let sig = match alg {
        "PS256" => key.sign_with_rng(&mut rand::rngs::OsRng, rsa::Pss::new::<Sha256>(), &digest).unwrap(),
        _ => key.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap(),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn claims(sim: &keystation::entra::simulator::SimulatorHandle, now: i64) -> Value {
    json!({
        "aud": token_url(sim),
        "iss": CERT_APP, "sub": CERT_APP,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now, "iat": now, "exp": now + 600,
    })
}

async fn with_assertion(sim: &keystation::entra::simulator::SimulatorHandle, jwt: &str) -> reqwest::Response {
    http()
        .post(token_url(sim))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CERT_APP),
            ("scope", GRAPH_DEFAULT),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", jwt),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn client_assertions_ps256_and_rs256_are_accepted() {
    let sim = sim().await;
    let s = generated_signer(&sim);
    let now = chrono::Utc::now().timestamp();
    let r = with_assertion(&sim, &assertion(&s, "PS256", "x5t#S256", claims(&sim, now), None)).await;
    assert_eq!(r.status(), 200);
    let c = jwt_claims(json_of(r).await["access_token"].as_str().unwrap());
    assert!(c["roles"].as_array().unwrap().contains(&json!("UserAuthMethod-Passkey.ReadWrite.All")));
    let r = with_assertion(&sim, &assertion(&s, "RS256", "x5t", claims(&sim, now), None)).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn client_assertions_are_refused_for_each_reason() {
    let sim = sim().await;
    let s = generated_signer(&sim);
    let now = chrono::Utc::now().timestamp();

    let mut c = claims(&sim, now);
    c["aud"] = json!("https://login.microsoftonline.com/x/oauth2/v2.0/token");
    sts_error(with_assertion(&sim, &assertion(&s, "PS256", "x5t#S256", c, None)).await, 401, "invalid_client", 50013).await;

    let mut c = claims(&sim, now);
    c["iss"] = json!(SECRET_APP);
    sts_error(with_assertion(&sim, &assertion(&s, "PS256", "x5t#S256", c, None)).await, 401, "invalid_client", 700021).await;

    let mut c = claims(&sim, now);
    c["exp"] = json!(now - 3600);
    c["nbf"] = json!(now - 7200);
    sts_error(with_assertion(&sim, &assertion(&s, "PS256", "x5t#S256", c, None)).await, 401, "invalid_client", 700024).await;

    let mut c = claims(&sim, now);
    c["nbf"] = json!(now + 3600);
    c["exp"] = json!(now + 7200);
    sts_error(with_assertion(&sim, &assertion(&s, "PS256", "x5t#S256", c, None)).await, 401, "invalid_client", 700024).await;

    let c = claims(&sim, now);
    let once = assertion(&s, "PS256", "x5t#S256", c, None);
    assert_eq!(with_assertion(&sim, &once).await.status(), 200);
    sts_error(with_assertion(&sim, &once).await, 401, "invalid_client", 50013).await;

    let (other, other_pem) = stranger();
    sts_error(with_assertion(&sim, &assertion(&other, "PS256", "x5t#S256", claims(&sim, now), None)).await, 401, "invalid_client", 700027).await;
    // Registered thumbprint, wrong key: signature check fails.
    sts_error(with_assertion(&sim, &assertion(&s, "PS256", "x5t#S256", claims(&sim, now), Some(&other.key))).await, 401, "invalid_client", 700027).await;
    sts_error(with_assertion(&sim, &assertion(&s, "HS256", "x5t#S256", claims(&sim, now), None)).await, 401, "invalid_client", 700027).await;
    sts_error(with_assertion(&sim, "not.a.jwt").await, 401, "invalid_client", 50027).await;

    // Once the stranger's certificate is registered, it works.
    let r = http().post(url(&sim, &format!("/_sim/apps/{CERT_APP}/certificates"))).json(&json!({"pem": other_pem})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(with_assertion(&sim, &assertion(&other, "RS256", "x5t", claims(&sim, now), None)).await.status(), 200);
}

// ---------------------------------------------------------------- refresh

async fn refresh(sim: &keystation::entra::simulator::SimulatorHandle, rt: &str) -> reqwest::Response {
    http()
        .post(token_url(sim))
        .form(&[("grant_type", "refresh_token"), ("client_id", OPERATOR_APP), ("refresh_token", rt)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_can_be_revoked() {
    let sim = sim().await;
    let t = delegated_token(&sim, "anna.authadmin@contoso.test", &format!("{GRAPH_DEFAULT} offline_access")).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(&sim, &rt1).await;
    assert_eq!(r.status(), 200);
    let t2 = json_of(r).await;
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(jwt_claims(t2["access_token"].as_str().unwrap())["upn"], "anna.authadmin@contoso.test");
    // The old one was rotated away.
    sts_error(refresh(&sim, &rt1).await, 400, "invalid_grant", 50173).await;
    sts_error(refresh(&sim, "0.SIM.garbage").await, 400, "invalid_grant", 9002313).await;

    let r = http().post(url(&sim, "/_sim/refresh-tokens/revoke")).json(&json!({"account": "anna.authadmin@contoso.test"})).send().await.unwrap();
    assert_eq!(json_of(r).await["revoked"], 1);
    sts_error(refresh(&sim, &rt2).await, 400, "invalid_grant", 50173).await;
}

#[tokio::test]
async fn openid_configuration_points_at_the_simulator() {
    let sim = sim().await;
    let r = http().get(url(&sim, &format!("/{DOMAIN}/v2.0/.well-known/openid-configuration"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v = json_of(r).await;
    assert_eq!(v["token_endpoint"], url(&sim, &format!("/{DOMAIN}/oauth2/v2.0/token")));
}

#[tokio::test]
async fn national_cloud_graph_resources_are_accepted() {
    let sim = sim().await;
    let r = http()
        .post(token_url(&sim))
        .form(&[("grant_type", "client_credentials"), ("client_id", SECRET_APP), ("client_secret", SECRET), ("scope", "https://graph.microsoft.us/.default")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = json_of(r).await["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&t)["aud"], "https://graph.microsoft.us");
    assert_eq!(get(&v1(&sim, "/users/alice@contoso.test"), &t).await.status(), 200);
    let t = delegated_token(&sim, "anna.authadmin@contoso.test", "https://microsoftgraph.chinacloudapi.cn/User.Read.All").await;
    assert!(t["scope"].as_str().unwrap().starts_with("https://microsoftgraph.chinacloudapi.cn/"), "{t}");
}
