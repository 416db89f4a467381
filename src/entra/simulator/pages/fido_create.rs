//! `POST /{tenant}/fido/create` on the login host (runs `navigator.credentials.create`) and
//! `POST /api/post/newfido` on the mysignins host (verifies and stores the key with the
//! same independent verifier as Graph, with rp.id = the login host name).
use super::html::{self, esc};
use super::security_info::{banner_text, registration_refusal};
use super::{form, on_login_host, on_login_side};
use crate::entra::simulator::registration;
use crate::entra::simulator::seed::CeremonyVariant;
use crate::entra::simulator::sim::Sim;
use crate::entra::simulator::state::fido2::{ChallengePurpose, RegisteredVia};
use crate::entra::simulator::state::sessions::{AddKind, ProvisionStatus};
use crate::entra::simulator::webauthn::{self, b64, Expectations, RegistrationInput};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

const CREATE_SCRIPT: &str = r#"
(function () {
  var cfg = $Config;
  function dec(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/'); while (s.length % 4) { s += '='; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  function enc(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) { s += String.fromCharCode(b[i]); }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function hex(b) { var s = ''; for (var i = 0; i < b.length; i++) { s += ('0' + b[i].toString(16)).slice(-2); } return s; }
  function post(fields) {
    var f = document.getElementById('FidoResultForm');
    Object.keys(fields).forEach(function (k) {
      var i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = fields[k]; f.appendChild(i);
    });
    f.submit();
  }
  var o = cfg.oCreateOptions;
  var pk = {
    rp: o.rp, user: {id: dec(o.user.id), name: o.user.name, displayName: o.user.displayName},
    challenge: dec(o.challenge), pubKeyCredParams: o.pubKeyCredParams, timeout: o.timeout,
    excludeCredentials: o.excludeCredentials.map(function (c) { return {type: c.type, id: dec(c.id), transports: c.transports}; }),
    authenticatorSelection: o.authenticatorSelection, attestation: o.attestation, extensions: o.extensions
  };
  navigator.credentials.create({publicKey: pk}).then(function (cred) {
    var r = cred.response, ad = null, aaguid = '', deviceType = '', backedUp = '';
    try { if (r.getAuthenticatorData) { ad = new Uint8Array(r.getAuthenticatorData()); } } catch (e) { ad = null; }
    if (ad && ad.length >= 53) {
      var h = hex(ad.slice(37, 53));
      aaguid = h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
      deviceType = (ad[32] & 0x08) ? 'multi_device' : 'single_device';
      backedUp = (ad[32] & 0x10) ? 'true' : 'false';
    }
    var ext = {};
    try { ext = cred.getClientExtensionResults(); } catch (e) { ext = {}; }
    var transports = [];
    try { transports = r.getTransports ? r.getTransports() : []; } catch (e) { transports = []; }
    post({
      authenticator: cred.authenticatorAttachment || 'cross-platform',
      transports: transports.join(','),
      aaguid: aaguid, credentialDeviceType: deviceType, credentialBackedUp: backedUp,
      clientDataJson: enc(r.clientDataJSON), attestationObject: enc(r.attestationObject),
      credentialId: enc(cred.rawId),
      clientExtensionResults: enc(new TextEncoder().encode(JSON.stringify(ext))),
      attestationParseError: ''
    });
  }).catch(function (e) {
    post({errorName: (e && e.name) || 'Error', errorMessage: (e && e.message) || String(e)});
  });
})();
"#;

/// `POST /{tenant}/fido/create`: the "login.microsoft.com" page that runs the ceremony.
pub async fn create_page(State(sim): State<Arc<Sim>>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if !on_login_host(&sim, &headers) {
        return (
            StatusCode::BAD_REQUEST,
            format!("/fido/create must be requested on the login host ({}), so that the WebAuthn origin is that site.\n", sim.urls.login_origin()),
        )
            .into_response();
    }
    let f = form(&body);
    let provision_id = f.get("provisionId").cloned().unwrap_or_default();
    let canary = f.get("canary").cloned().unwrap_or_default();
    let st = sim.state();
    let tid = st.tenant_id.clone();
    let valid = st.pages.provisions.get(&provision_id).filter(|p| p.canary == canary && p.status == ProvisionStatus::Issued).cloned();
    let Some(p) = valid else {
        return super::signin::error_page(&tenant, 90100, "The request to add a security key is unknown, already used or forged (provisionId/canary).", None);
    };
    if f.get("serverChallenge").map(String::as_str) != Some(p.server_challenge.as_str()) {
        return super::signin::error_page(&tenant, 90100, "The serverChallenge does not belong to this request.", None);
    }
    let Some(user) = st.dir.user(&p.user_id).cloned() else { return super::signin::error_page(&tenant, 50034, "The user no longer exists.", None) };
    let exclude: Vec<String> = f
        .get("ExcludeNextGenCredentialsJSON")
        .and_then(|j| serde_json::from_str::<Vec<String>>(j).ok())
        .unwrap_or_else(|| st.methods_of(&user.id).iter().map(|m| b64::b64url(&m.credential_id)).collect());
    let options = json!({
        "rp": {"id": sim.urls.login_host(), "name": "Microsoft"},
        "user": {"id": b64::b64url(&user.user_handle), "name": user.upn, "displayName": user.display_name},
        "challenge": b64::b64url(p.server_challenge.as_bytes()),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "timeout": 180000,
        "excludeCredentials": exclude.iter().map(|id| json!({"type": "public-key", "id": id, "transports": ["usb", "nfc"]})).collect::<Vec<_>>(),
        "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "residentKey": "required", "requireResidentKey": true, "userVerification": "required"},
        "attestation": "direct",
        "extensions": {"hmacCreateSecret": true, "credentialProtectionPolicy": "userVerificationOptional", "credProps": true},
    });
    let post_back = f.get("postBackUrl").cloned().unwrap_or_else(|| sim.urls.portal_url("/api/post/newfido"));
    let config = json!({
        "pgid": "FidoCreate",
        "iErrorCode": 0,
        "strServiceExceptionMessage": "",
        "sTenantId": tid,
        "sProvisionId": provision_id,
        "sFidoCeremony": p.variant.as_str(),
        "sAddKind": if p.kind == AddKind::Passkey { "passkey" } else { "securityKey" },
        "urlPost": post_back,
        "oCreateOptions": options,
    });
    let body = format!(
        "<div id=\"FidoCreateTitle\" role=\"heading\" aria-level=\"1\">Setting up your security key</div>\
<p id=\"FidoCreateDescription\">Follow the instructions in your browser. Insert your security key, enter its PIN and touch it.</p>\
<p class=\"identity\">{upn}</p>\
<form id=\"FidoResultForm\" method=\"post\" action=\"{action}\">{hidden}</form>",
        upn = esc(&user.upn),
        action = esc(&post_back),
        hidden = html::hidden(&[("provisionId", &provision_id), ("canary", &canary)]),
    );
    html::page("Setting up your security key", &config, &body, CREATE_SCRIPT, false)
}

/// After newfido: where the browser goes next, by ceremony variant.
fn continue_to(variant: CeremonyVariant, next: &str) -> Response {
    match variant {
        CeremonyVariant::SameTab => html::see_other(next),
        CeremonyVariant::Iframe | CeremonyVariant::Popup => {
            let script = format!(
                "(function () {{ var next = {}; \
if (window.opener && !window.opener.closed) {{ try {{ window.opener.location.href = next; window.close(); return; }} catch (e) {{}} }} \
if (window.top !== window.self) {{ window.top.location.href = next; return; }} \
window.location.href = next; }})();",
                html::script_json(&json!(next))
            );
            let config = json!({"pgid": "NewFidoComplete", "iErrorCode": 0, "strServiceExceptionMessage": "", "urlNext": next, "sFidoCeremony": variant.as_str()});
            let body = format!("<p id=\"NewFidoCompleteMessage\">Returning to Security info…</p><p><a id=\"ContinueLink\" href=\"{}\" target=\"_top\">Continue</a></p>", esc(next));
            html::page("Security info", &config, &body, &script, false)
        }
    }
}

/// `POST /api/post/newfido`: verify the ceremony's result and store the key.
pub async fn new_fido(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    if on_login_side(&sim, &headers) {
        return (StatusCode::BAD_REQUEST, "newfido lives on the mysignins host.\n").into_response();
    }
    let f = form(&body);
    let provision_id = f.get("provisionId").cloned().unwrap_or_default();
    let canary = f.get("canary").cloned().unwrap_or_default();
    let now = sim.clock.now();
    let mut st = sim.state();
    let Some(p) = st.pages.provisions.get(&provision_id).filter(|p| p.canary == canary).cloned() else {
        return html::see_other("/security-info?error=RequestExpired");
    };
    let fail = |st: &mut crate::entra::simulator::state::TenantState, code: &str, message: String| {
        if let Some(pr) = st.pages.provisions.get_mut(&provision_id) {
            pr.status = ProvisionStatus::Failed { code: code.to_string(), message };
        }
        continue_to(p.variant, &format!("/security-info?error={code}"))
    };
    if p.status != ProvisionStatus::Issued {
        return continue_to(p.variant, "/security-info?error=RequestExpired");
    }
    if f.contains_key("errorName") {
        let msg = format!("{}: {}", f.get("errorName").cloned().unwrap_or_default(), f.get("errorMessage").cloned().unwrap_or_default());
        return fail(&mut st, "CeremonyFailed", msg);
    }
    let Some(user) = st.dir.user(&p.user_id).cloned() else { return fail(&mut st, "RequestExpired", "user gone".into()) };
    let Some(session) = st.pages.portal_sessions.get(&p.portal_session).cloned() else {
        return fail(&mut st, "RequestExpired", "the Security-info session ended".into());
    };
    if let Some(code) = registration_refusal(&st, &user, &session, now) {
        let text = banner_text(&st, Some(&user), code, &super::i18n::EN_US);
        return fail(&mut st, code, text);
    }
    let decode = |k: &str| f.get(k).and_then(|v| b64::decode_b64url_lenient(v));
    let (Some(credential_id), Some(client_data), Some(attestation)) = (decode("credentialId"), decode("clientDataJson"), decode("attestationObject")) else {
        return fail(&mut st, "VerificationFailed", "credentialId, clientDataJson and attestationObject must be base64url".into());
    };
    let origins = vec![sim.urls.login_origin()];
    let rp_id = sim.urls.login_host();
    let verified = {
        let expect = Expectations {
            rp_id: &rp_id,
            origins: &origins,
            allow_cross_origin: p.variant == CeremonyVariant::Iframe,
            trusted_roots: &st.trusted_roots,
            now,
        };
        let input = RegistrationInput { credential_id: &credential_id, client_data_json: &client_data, attestation_object: &attestation };
        let challenges = &st.challenges;
        let expected_challenge = p.server_challenge.as_bytes();
        webauthn::verify_registration(input, &expect, |c| {
            if c != expected_challenge {
                return Err(webauthn::VerifyError::new("challengeUnknown", "the challenge is not the one this request issued"));
            }
            registration::check_challenge(challenges, c, &user.id, ChallengePurpose::Browser, now)
        })
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => return fail(&mut st, "VerificationFailed", e.to_string()),
    };
    if let Err(e) = registration::admit(&st, &user, &verified) {
        let code = match e.code {
            "credentialAlreadyRegistered" => "AlreadyRegistered",
            _ => "KeyNotAllowed",
        };
        return fail(&mut st, code, e.to_string());
    }
    let default_name = if p.kind == AddKind::Passkey { "Passkey" } else { "Security key" };
    let method = registration::store(&mut st, &user, &verified, default_name.to_string(), RegisteredVia::Browser, now);
    if let Some(pr) = st.pages.provisions.get_mut(&provision_id) {
        pr.status = ProvisionStatus::Completed { method_id: method.id.clone() };
    }
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("step", "name").append_pair("method", &method.id).finish();
    continue_to(p.variant, &format!("/security-info?{q}"))
}
