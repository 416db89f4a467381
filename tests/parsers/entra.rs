//! What Entra sends: Graph and OAuth answers of any status, headers and body, read by the
//! real clients (reqwest, retries, error mapping, typed decoding) from a local server that
//! answers every request with the case's canned response. Plus the small parsers of
//! Entra's text: creation options, tolerant base64 credential ids, JWT claims.
use super::support::cases;
use keystation::entra::graph::{parse_creation_options, ApiVersion, GraphClient, GraphConfig, TapRequest};
use keystation::entra::http::{HttpOptions, RetryPolicy};
use keystation::entra::oauth::{Authority, ClientCredential, OAuthClient, OAuthOptions, Scopes, StaticToken, TokenClaims};
use keystation::secret::SecretString;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One canned HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A server on 127.0.0.1 that answers every request with the current [`Answer`].
struct AnyServer {
    url: reqwest::Url,
    answer: Arc<Mutex<Answer>>,
}

impl AnyServer {
    async fn start() -> AnyServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = reqwest::Url::parse(&format!("http://{}", listener.local_addr().expect("addr"))).expect("url");
        let answer = Arc::new(Mutex::new(Answer { status: 200, headers: vec![], body: b"{}".to_vec() }));
        let shared = Arc::clone(&answer);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    // Read the head and a Content-Length body; the request itself does not matter.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = stream.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let a = shared.lock().expect("answer").clone();
                    let mut out = format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n", a.status, a.body.len()).into_bytes();
                    for (k, v) in &a.headers {
                        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&a.body);
                    let _ = stream.write_all(&out).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        AnyServer { url, answer }
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().expect("answer") = answer;
    }
}

/// Quick retries, and a Retry-After longer than 50 ms is an error rather than a wait.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_millis(50),
        connection_base_delay: Duration::from_millis(1),
        jitter: false,
    }
}

fn http() -> HttpOptions {
    HttpOptions { request_timeout: Duration::from_secs(5), connect_timeout: Duration::from_secs(2), proxy: keystation::entra::http::ProxyChoice::None, ..HttpOptions::default() }
}

/// Field names Graph and the token endpoint use, so that generated objects hit the typed
/// decoders' fields with values of every kind.
const FIELDS: &[&str] = &[
    "id", "userPrincipalName", "displayName", "mail", "accountEnabled", "createdDateTime", "aaGuid", "model", "attestationCertificates",
    "attestationLevel", "publicKeyCredential", "challenge", "rp", "user", "pubKeyCredParams", "excludeCredentials", "authenticatorSelection",
    "timeout", "attestation", "extensions", "challengeTimeoutDateTime", "temporaryAccessPass", "lifetimeInMinutes", "isUsableOnce", "isUsable",
    "methodUsabilityReason", "startDateTime", "state", "includeTargets", "excludeTargets", "keyRestrictions", "aaGuids", "enforcementType",
    "isAttestationEnforced", "isSelfServiceRegistrationAllowed", "defaultLifetimeInMinutes", "minimumLifetimeInMinutes",
    "maximumLifetimeInMinutes", "defaultLength", "value", "@odata.nextLink", "@odata.type", "error", "code", "message", "innerError",
    "request-id", "access_token", "refresh_token", "id_token", "expires_in", "ext_expires_in", "token_type", "scope", "error_description",
    "error_codes", "device_code", "user_code", "verification_uri", "interval", "type", "alg", "name",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,30}".prop_map(Value::String),
        // Shapes the decoders look for inside strings: dates, base64url, GUIDs.
        Just(json!("2026-03-14T09:30:00Z")),
        Just(json!("2026-03-14T09:30:00.1234567+01:00")),
        "[A-Za-z0-9_-]{0,40}".prop_map(Value::String),
        Just(json!("d5a92987-df19-484f-890d-2d49daf54f29")),
    ]
}

/// JSON made of Graph's field names with values of every kind, nested.
fn graph_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => graph_json().prop_map(|v| v.to_string().into_bytes()),
        2 => graph_json().prop_map(|v| json!({"value": [v.clone(), v]}).to_string().into_bytes()),
        2 => ("\\PC{0,20}", prop_oneof!["\\PC{0,100}", "\\PC{1500,2500}"]).prop_map(|(code, message)| json!({"error": {"code": code, "message": message, "innerError": {"request-id": "r"}}}).to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
        1 => Just(Vec::new()),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        Just(200u16), Just(201), Just(204), Just(400), Just(401), Just(403), Just(404), Just(409), Just(429), Just(500), Just(503), 100u16..600
    ];
    let header = prop_oneof![
        ("retry-after", prop_oneof![Just("0".to_string()), Just("1".to_string()), "[0-9]{1,12}", "\\PC{0,20}", Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string())]),
        ("request-id", "[a-f0-9-]{0,40}"),
        ("content-type", prop_oneof![Just("application/json".to_string()), "\\PC{0,20}"]),
    ]
    .prop_map(|(k, v)| (k.to_string(), v.chars().filter(|c| !c.is_control()).collect::<String>()));
    (status, proptest::collection::vec(header, 0..3), body()).prop_map(|(status, headers, body)| Answer { status, headers, body })
}

/// Secrets the calls send: no error may repeat them, whatever the server answered.
const CLIENT_SECRET: &str = "client-secret-Q8x~not-for-errors";
const REFRESH_TOKEN: &str = "refresh-token-0.AVcA-not-for-errors";

/// The longest error text an answer may produce: Entra's own text is capped at
/// `SERVICE_TEXT_MAX_CHARS` (codes at 100), plus keystation's sentence and hint around it
/// (the longest hint, a missing permission's, is about 500 characters). The answers carry
/// messages of up to 2500 characters, so an uncapped message fails this.
const ERROR_TEXT_MAX_CHARS: usize = keystation::text::SERVICE_TEXT_MAX_CHARS + 1000;

/// Every Graph call keystation makes, and the token endpoint, against `answer`; the text
/// of every error they return.
async fn every_call(server: &AnyServer, answer: Answer) -> Vec<String> {
    server.set(answer);
    let config = GraphConfig { retry: quick_retry(), http: http(), ..GraphConfig::new(server.url.clone()) };
    // A token that is a readable JWT, so that permission checks peek into it too.
    let claims = keystation::entra::oauth::TokenClaims { roles: vec!["UserAuthenticationMethod.ReadWrite.All".into()], ..Default::default() };
    let jwt = format!("e30.{}.sig", base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, serde_json::to_vec(&claims).expect("claims")));
    let graph = GraphClient::new(config, Arc::new(StaticToken::new(SecretString::new(jwt)))).expect("client");
    let user = "alice@contoso.test";
    let mut errors: Vec<Option<String>> = Vec::new();
    errors.push(graph.get_user(user).await.err().map(|e| e.to_string()));
    errors.push(graph.resolve_user(user).await.err().map(|e| e.to_string()));
    errors.push(graph.check_member_groups(user, &["g1".into()]).await.err().map(|e| e.to_string()));
    errors.push(graph.list_fido2_methods(user).await.err().map(|e| e.to_string()));
    errors.push(graph.get_fido2_method(user, "m1").await.err().map(|e| e.to_string()));
    errors.push(graph.delete_fido2_method(user, "m1").await.err().map(|e| e.to_string()));
    errors.push(graph.fido2_creation_options(user, Some(5)).await.err().map(|e| e.to_string()));
    errors.push(graph.with_api_version(ApiVersion::Beta).fido2_creation_options(user, None).await.err().map(|e| e.to_string()));
    errors.push(graph.create_tap(user, &TapRequest { start: None, lifetime_minutes: Some(60), usable_once: Some(true) }).await.err().map(|e| e.to_string()));
    errors.push(graph.list_taps(user).await.err().map(|e| e.to_string()));
    errors.push(graph.fido2_policy().await.err().map(|e| e.to_string()));
    errors.push(graph.tap_policy().await.err().map(|e| e.to_string()));
    errors.push(graph.granted_permissions().await.err().map(|e| e.to_string()));

    let options = OAuthOptions { http: http(), retry: quick_retry(), ..OAuthOptions::default() };
    let authority = Authority::new(server.url.clone(), "contoso.test").expect("authority");
    let oauth = OAuthClient::new(authority, "11111111-2222-3333-4444-555555555555", &options).expect("oauth");
    let scopes = Scopes::graph_default(&reqwest::Url::parse("https://graph.microsoft.com").expect("url"));
    errors.push(oauth.client_credentials(&ClientCredential::Secret(SecretString::new(CLIENT_SECRET)), &scopes).await.err().map(|e| e.to_string()));
    errors.push(oauth.refresh(&SecretString::new(REFRESH_TOKEN), Some(&scopes), None).await.err().map(|e| e.to_string()));
    errors.push(oauth.request_device_code(&scopes).await.err().map(|e| e.to_string()));
    errors.into_iter().flatten().collect()
}

proptest! {
    // Each case is about 17 HTTP exchanges on loopback.
    #![proptest_config(cases(48))]

    /// Any status, headers and body from Graph or the token endpoint: every call ends
    /// (an answer or an error) within its deadlines, nothing panics, and every error says
    /// something, stays short (however long Entra's message) and repeats no secret.
    #[test]
    fn entra_answers_never_hang_or_panic(answers in proptest::collection::vec(answer(), 1..3)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async {
            keystation::entra::tls::ensure_crypto_provider();
            let server = AnyServer::start().await;
            for a in answers {
                let started = Instant::now();
                let done = tokio::time::timeout(Duration::from_secs(60), every_call(&server, a.clone())).await;
                let errors = done.unwrap_or_else(|_| panic!("calls still running after {:?} for {a:?}", started.elapsed()));
                for e in errors {
                    assert!(!e.trim().is_empty(), "an empty error for {a:?}");
                    let chars = e.chars().count();
                    assert!(chars <= ERROR_TEXT_MAX_CHARS, "an error of {chars} characters: {}", keystation::text::cap(&e));
                    for secret in [CLIENT_SECRET, REFRESH_TOKEN] {
                        assert!(!e.contains(secret), "a secret in an error: {}", keystation::text::cap(&e));
                    }
                }
            }
        });
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// The creation options decoder (Graph's body, and the browser path's JSON), the
    /// tolerant credential-id decoder and the JWT peek take anything.
    #[test]
    fn entra_text_parsers_never_panic(json in graph_json(), text in "\\PC{0,200}", raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let body = json.to_string();
        if let Ok(options) = parse_creation_options(body.as_bytes()) {
            let pk = &options.public_key;
            let _ = (pk.challenge_bytes(), pk.user_handle(), pk.exclude_credential_ids(), pk.accepts_alg(-7));
        }
        let _ = parse_creation_options(&raw);
        let wrapped = json!({"publicKeyCredential": json.clone()});
        let _ = keystation::ceremony::webauthn::options::CreationOptions::from_json(&json);
        let _ = keystation::ceremony::webauthn::options::CreationOptions::from_json(&wrapped);
        let _ = keystation::entra::graph::decode_credential_id(&text);
        let _ = TokenClaims::peek(&text);
        let _ = TokenClaims::peek(&format!("a.{text}.b"));
        let _ = keystation::entra::http::parse_retry_after(&text);
    }

    /// A credential id in any of the three encodings Graph uses (standard base64 with
    /// padding, base64url without, base64url with a padding digit) decodes back to the
    /// bytes (one of the candidates is exact).
    #[test]
    fn credential_ids_round_trip_in_every_graph_encoding(id in proptest::collection::vec(any::<u8>(), 1..100), form in 0usize..3) {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use base64::Engine;
        let standard = STANDARD.encode(&id);
        let padding = standard.len() - standard.trim_end_matches('=').len();
        let text = match form { 0 => standard, 1 => URL_SAFE_NO_PAD.encode(&id), _ => format!("{}{padding}", URL_SAFE_NO_PAD.encode(&id)) };
        let decoded = keystation::entra::graph::decode_credential_id(&text).unwrap();
        prop_assert!(decoded.candidates().contains(&id), "{text}");
    }
}
