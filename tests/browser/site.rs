//! The stand-in for Microsoft's pages (browser.md §6), served by the test itself on
//! 127.0.0.1:0 and reached under two host names:
//! * `http://127.0.0.1:P` plays mysignins.microsoft.com (and is a different site);
//! * `http://localhost:P` plays login.microsoft.com, whose `/fido/create` page runs
//!   `navigator.credentials.create` with Entra-like options (rp.id `localhost`) and
//!   form-POSTs the result, Microsoft's `newfido` fields plus page-side checks, back to
//!   `http://127.0.0.1:P/newfido`.
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// A form the page posted back.
#[derive(Debug, Clone)]
pub struct PostBack {
    pub fields: HashMap<String, String>,
}

impl PostBack {
    pub fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("")
    }
    pub fn checks(&self) -> serde_json::Value {
        serde_json::from_str(self.get("checks")).unwrap_or_default()
    }
}

pub struct Site {
    pub port: u16,
    posts: Mutex<mpsc::UnboundedReceiver<PostBack>>,
    server: tokio::task::JoinHandle<()>,
}

struct St {
    port: u16,
    posts: mpsc::UnboundedSender<PostBack>,
}

/// The server challenge: like Entra's, the UTF-8 bytes of a JWE-looking string.
pub const SERVER_CHALLENGE: &str = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.keystation-test.\"quoted\"\\and/slash";
/// The user handle (base64url), shaped like Entra's `OF:` handles.
pub const USER_ID_B64: &str = "T0Y6MTIzNDU2Nzg5MGFiY2RlZg";

impl Site {
    pub async fn start() -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        let st = Arc::new(St { port, posts: tx });
        let app = axum::Router::new()
            .route("/start", get(start))
            .route("/fido/create", get(fido_create_get).post(fido_create_post))
            .route("/newfido", post(newfido))
            .route("/iframe-host", get(iframe_host))
            .route("/popup-host", get(popup_host))
            .route("/get", get(get_page))
            .route("/cookie/set", get(cookie_set))
            .route("/cookie/show", get(cookie_show))
            .with_state(st);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Site { port, posts: Mutex::new(rx), server }
    }

    /// The "mysignins" side (another site than localhost).
    pub fn other_site(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The "login.microsoft.com" side.
    pub fn login_site(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// The next form the pages posted back.
    pub async fn next_post(&self, within: Duration) -> PostBack {
        tokio::time::timeout(within, self.posts.lock().await.recv())
            .await
            .expect("the page did not post its result in time")
            .expect("site closed")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(State(st): State<Arc<St>>, Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let scenario = q.get("scenario").cloned().unwrap_or_default();
    let exclude = q.get("exclude").cloned().unwrap_or_default();
    Html(format!(
        r#"<!doctype html><title>Security info</title>
<form id="f" method="post" action="http://localhost:{port}/fido/create">
<input type="hidden" name="serverChallenge" value="{challenge}">
<input type="hidden" name="userId" value="{user}">
<input type="hidden" name="scenario" value="{scenario}">
<input type="hidden" name="exclude" value="{exclude}">
<button id="go" type="submit">Next</button></form>
<script>document.getElementById('f').submit();</script>"#,
        port = st.port,
        challenge = html_attr(SERVER_CHALLENGE),
        user = USER_ID_B64,
        scenario = html_attr(&scenario),
        exclude = html_attr(&exclude),
    ))
}

async fn fido_create_post(State(st): State<Arc<St>>, Form(f): Form<HashMap<String, String>>) -> Html<String> {
    Html(ceremony_page(st.port, &f))
}

async fn fido_create_get(State(st): State<Arc<St>>, Query(q): Query<HashMap<String, String>>) -> Html<String> {
    Html(ceremony_page(st.port, &q))
}

async fn newfido(State(st): State<Arc<St>>, Form(f): Form<HashMap<String, String>>) -> Html<&'static str> {
    let _ = st.posts.send(PostBack { fields: f });
    Html("<!doctype html><title>done</title>done")
}

fn ceremony_query(scenario: &str) -> String {
    format!("serverChallenge={}&userId={USER_ID_B64}&scenario={scenario}", urlencode(SERVER_CHALLENGE))
}

async fn iframe_host(State(st): State<Arc<St>>, Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let scenario = q.get("scenario").cloned().unwrap_or_default();
    Html(format!(
        r#"<!doctype html><title>frame host</title><iframe id="fr" allow="publickey-credentials-create" src="http://localhost:{}/fido/create?{}"></iframe>"#,
        st.port,
        ceremony_query(&scenario)
    ))
}

async fn popup_host(State(st): State<Arc<St>>) -> Html<String> {
    Html(format!(
        r#"<!doctype html><title>popup host</title><script>window.popup = window.open("http://localhost:{}/fido/create?{}", "ceremony", "width=600,height=600");</script>"#,
        st.port,
        ceremony_query("popup")
    ))
}

async fn get_page(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let mediation = if q.get("mode").map(String::as_str) == Some("conditional") { "conditional" } else { "optional" };
    Html(format!(
        r#"<!doctype html><title>sign in</title><script>
const ctl = new AbortController();
let state = 'pending';
navigator.credentials.get({{publicKey: {{challenge: new Uint8Array(32), rpId: 'localhost'}}, mediation: '{mediation}', signal: ctl.signal}})
  .then(() => state = 'resolved', e => state = e.name);
window.getState = () => state;
window.ctl = ctl;
</script>"#
    ))
}

async fn cookie_set(Query(q): Query<HashMap<String, String>>) -> impl IntoResponse {
    let v = q.get("v").cloned().unwrap_or_default();
    ([(header::SET_COOKIE, format!("ESTSAUTH={v}; Path=/; HttpOnly"))], Html("<!doctype html>set"))
}

async fn cookie_show(headers: HeaderMap) -> Html<String> {
    let c = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("none").to_string();
    Html(format!("<!doctype html><pre id=\"c\">{}</pre>", html_attr(&c)))
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The "login.microsoft.com/fido/create" page: runs the ceremony at once, like
/// Microsoft's, and posts the outcome back to the other site.
fn ceremony_page(port: u16, f: &HashMap<String, String>) -> String {
    let challenge = f.get("serverChallenge").cloned().unwrap_or_default();
    let user = f.get("userId").cloned().unwrap_or_default();
    let scenario = f.get("scenario").cloned().unwrap_or_default();
    let exclude = f.get("exclude").cloned().unwrap_or_default();
    let cfg = serde_json::json!({"challenge": challenge, "userId": user, "scenario": scenario, "exclude": exclude, "postTo": format!("http://127.0.0.1:{port}/newfido")});
    format!(r#"<!doctype html><title>Create a passkey</title><script>
const CFG = {cfg};
{CEREMONY_JS}
</script>"#)
}

const CEREMONY_JS: &str = r#"
function b64u(buf) {
  const b = new Uint8Array(buf); let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function unb64u(s) {
  s = s.replace(/-/g, '+').replace(/_/g, '/'); while (s.length % 4) s += '=';
  return Uint8Array.from(atob(s), c => c.charCodeAt(0));
}
function post(fields) {
  const form = document.createElement('form');
  form.method = 'post'; form.action = CFG.postTo;
  for (const [k, v] of Object.entries(fields)) {
    const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; form.appendChild(i);
  }
  document.body.appendChild(form); form.submit();
}
const ctl = new AbortController();
window.ctl = ctl;
async function run() {
  const rpId = CFG.scenario === 'wrongrp' ? 'example.com' : CFG.scenario === 'foreignrp' ? 'login.microsoft.com' : 'localhost';
  const options = {publicKey: {
    rp: {id: rpId, name: 'Microsoft'},
    user: {id: unb64u(CFG.userId), name: 'ada@contoso.com', displayName: 'Ada Lovelace'},
    challenge: new TextEncoder().encode(CFG.challenge),
    pubKeyCredParams: [{type: 'public-key', alg: -7}, {type: 'public-key', alg: -257}],
    timeout: 60000,
    excludeCredentials: CFG.exclude ? [{type: 'public-key', id: unb64u(CFG.exclude), transports: ['usb']}] : [],
    authenticatorSelection: {authenticatorAttachment: 'cross-platform', requireResidentKey: true, userVerification: 'required'},
    attestation: 'direct',
    extensions: {hmacCreateSecret: true, credProps: true},
  }};
  if (CFG.scenario === 'abort') options.signal = ctl.signal;
  const fields = {scenario: CFG.scenario, origin: location.origin};
  try {
    const cred = await navigator.credentials.create(options);
    const r = cred.response;
    const pk = r.getPublicKey();
    const json = cred.toJSON();
    const checks = {
      instanceofPKC: cred instanceof PublicKeyCredential,
      instanceofAAR: r instanceof AuthenticatorAttestationResponse,
      toStringTag: Object.prototype.toString.call(cred),
      rawIdIsBuffer: cred.rawId instanceof ArrayBuffer,
      cdjIsBuffer: r.clientDataJSON instanceof ArrayBuffer,
      aoIsBuffer: r.attestationObject instanceof ArrayBuffer,
      idMatchesRawId: cred.id === b64u(cred.rawId),
      type: cred.type,
      attachment: cred.authenticatorAttachment,
      transports: r.getTransports(),
      alg: r.getPublicKeyAlgorithm(),
      spkiLength: pk ? pk.byteLength : null,
      spkiImportable: await crypto.subtle.importKey('spki', pk, {name: 'ECDSA', namedCurve: 'P-256'}, true, ['verify']).then(() => true, () => false),
      authData: b64u(r.getAuthenticatorData()),
      ext: cred.getClientExtensionResults(),
      jsonKeys: Object.keys(json).sort(),
      jsonResponseKeys: Object.keys(json.response).sort(),
      jsonMatches: json.id === cred.id && json.response.clientDataJSON === b64u(r.clientDataJSON) && json.response.attestationObject === b64u(r.attestationObject),
      createName: navigator.credentials.create.name,
      createLength: navigator.credentials.create.length,
      leakedGlobals: Object.getOwnPropertyNames(window).filter(n => /keystation|^ks[-_]|^__st|bridge/i.test(n)),
    };
    Object.assign(fields, {
      authenticator: cred.authenticatorAttachment,
      transports: r.getTransports().join(','),
      credentialId: cred.id,
      clientDataJson: b64u(r.clientDataJSON),
      attestationObject: b64u(r.attestationObject),
      clientExtensionResults: b64u(new TextEncoder().encode(JSON.stringify(cred.getClientExtensionResults()))),
      checks: JSON.stringify(checks),
    });
  } catch (e) {
    Object.assign(fields, {errorName: e.name, errorMessage: e.message, errorIsDomException: String(e instanceof DOMException)});
  }
  post(fields);
}
run();
"#;
