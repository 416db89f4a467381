//! The WebAuthn client role for `navigator.credentials.create()`: origin and rp.id
//! checks, Chromium's option rules, clientDataJSON, the key call with timeout and
//! abort, and the page-facing result.
use super::attestation::{apply_conveyance, attestation_object, check_response};
use super::client_data::{ClientData, TemplateGrease, client_data_hash};
use super::cose::CoseKey;
use super::credential::{CreatedCredential, transports_for};
use super::error::WebAuthnError;
use super::extensions::client_extension_results;
use super::maker::{CancelToken, CredentialMaker};
use super::options::CreationOptions;
use super::origin::Origin;
use super::request::{check_options, prepare};
use super::rp_id::RpIdPolicy;
use std::time::Duration;

/// How long a cancelled key operation may take to wind down before keystation stops
/// waiting for it (the key layer promises ~100 ms).
const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// Where the calling document sits in its frame tree, as the browser reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameContext {
    /// A top-level document (a tab or a popup).
    TopLevel,
    /// A frame whose origin equals the origin of every ancestor.
    SameOriginFrame,
    /// A frame that is not same-origin with all its ancestors.
    CrossOriginFrame {
        /// The top-level document's origin (clientDataJSON `topOrigin`).
        top_origin: Origin,
    },
}

/// keystation's WebAuthn client configuration.
#[derive(Debug, Clone)]
pub struct WebAuthnClient {
    /// Relying parties keystation may create credentials for.
    pub rp_policy: RpIdPolicy,
    /// Chromium's `other_keys_can_be_added_here` member.
    pub grease: TemplateGrease,
    /// Serve cross-origin frames (with `crossOrigin: true` and `topOrigin`). Off by
    /// default: keystation cannot see the permissions policy or user activation that
    /// Chromium requires there, and the Microsoft flow does not use frames.
    pub allow_cross_origin_frames: bool,
}

impl WebAuthnClient {
    /// A client for the given relying parties with keystation's defaults.
    pub fn new(rp_policy: RpIdPolicy) -> WebAuthnClient {
        WebAuthnClient { rp_policy, grease: TemplateGrease::Never, allow_cross_origin_frames: false }
    }

    /// Everything that can be decided without the key: parse the options, check frame,
    /// origin and rp.id, apply Chromium's option rules. Returns the options and the
    /// effective rp.id.
    pub fn precheck(
        &self,
        options_json: &serde_json::Value,
        origin: &Origin,
        frame: &FrameContext,
    ) -> Result<(CreationOptions, String), WebAuthnError> {
        // Chromium's order: WebIDL conversion (TypeError) first, then the caller's
        // origin, its frame position, the rp.id, and finally the option rules.
        let options = CreationOptions::from_json(options_json)?;
        origin.check_may_use_webauthn()?;
        if let (FrameContext::CrossOriginFrame { top_origin }, false) = (frame, self.allow_cross_origin_frames) {
            return Err(WebAuthnError::CrossOriginFrame { origin: origin.to_string(), top_origin: top_origin.to_string() });
        }
        let rp_id = match &options.rp_id {
            Some(id) => id.clone(),
            None => origin.host().unwrap_or_default().to_string(),
        };
        self.rp_policy.check(origin, &rp_id)?;
        check_options(&options)?;
        Ok((options, rp_id))
    }

    /// Run `navigator.credentials.create({publicKey})` against `maker`.
    ///
    /// `abort` is the page's AbortSignal (or navigation away): when it fires, the key
    /// operation is cancelled and the result is [`WebAuthnError::Aborted`].
    pub async fn create(
        &self,
        options_json: &serde_json::Value,
        origin: &Origin,
        frame: &FrameContext,
        maker: &dyn CredentialMaker,
        abort: &CancelToken,
    ) -> Result<CreatedCredential, WebAuthnError> {
        let (options, rp_id) = self.precheck(options_json, origin, frame)?;
        let top = match frame {
            FrameContext::CrossOriginFrame { top_origin } => Some(top_origin),
            _ => None,
        };
        let client_data_json =
            ClientData { challenge: &options.challenge, origin, cross_origin_top: top }.to_json_create(self.grease);
        if abort.is_cancelled() {
            return Err(WebAuthnError::Aborted);
        }
        let info = maker.info().await.map_err(WebAuthnError::from_key)?;
        let prepared = prepare(&options, &rp_id, client_data_hash(&client_data_json), &info)?;
        let made_rk = prepared.ctap.resident_key;

        let response = run_key_operation(maker, prepared.ctap.clone(), prepared.timeout, abort).await?;

        check_response(&rp_id, &response)?;
        let key = CoseKey::parse(&response.credential_public_key_cose).map_err(WebAuthnError::BadKeyResponse)?;
        if !prepared.ctap.algorithms.contains(&key.alg) {
            return Err(WebAuthnError::BadKeyResponse(format!("the key used algorithm {} which was not requested", key.alg)));
        }
        let parts = apply_conveyance(prepared.attestation, &response);
        Ok(CreatedCredential {
            rp_id,
            origin: origin.clone(),
            raw_id: response.credential_id.clone(),
            client_data_json,
            attestation_object: attestation_object(&parts),
            authenticator_data: parts.auth_data,
            transports: transports_for(&info),
            public_key_spki: key.spki_der(),
            public_key_algorithm: key.alg,
            extension_results: client_extension_results(&options.extensions, made_rk, response.extensions_cbor.as_deref()),
            attestation_erased: parts.erased,
            key_response: response,
        })
    }
}

/// makeCredential bounded by the ceremony timeout and the page's abort; either one
/// cancels the key operation (CTAPHID_CANCEL in the key layer) and waits briefly for it
/// to wind down so the key is idle before the next ceremony.
async fn run_key_operation(
    maker: &dyn CredentialMaker,
    request: crate::key::ctap2::types::MakeCredentialRequest,
    timeout: Duration,
    abort: &CancelToken,
) -> Result<crate::key::ctap2::types::MakeCredentialResponse, WebAuthnError> {
    let op_cancel = CancelToken::new();
    let op = maker.make_credential(request, op_cancel.clone());
    tokio::pin!(op);
    let stopped = tokio::select! {
        r = &mut op => return r.map_err(WebAuthnError::from_key),
        _ = abort.cancelled() => WebAuthnError::Aborted,
        _ = tokio::time::sleep(timeout) => WebAuthnError::Timeout(timeout),
    };
    op_cancel.cancel();
    let _ = tokio::time::timeout(CANCEL_GRACE, op).await;
    Err(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::webauthn::attestation::tests::response;
    use crate::ceremony::webauthn::maker::BoxFuture;
    use crate::ceremony::webauthn::options::tests::entra_like;
    use crate::ceremony::webauthn::request::tests::key_info;
    use crate::key::KeyError;
    use crate::key::ctap2::types::{AuthenticatorInfo, MakeCredentialRequest, MakeCredentialResponse};
    use std::sync::Mutex;

    /// Answers with a canned response, or waits for cancel when `hang` is set.
    struct Fake {
        hang: bool,
        fail: Option<KeyError>,
        seen: Mutex<Vec<MakeCredentialRequest>>,
        cancelled: Mutex<bool>,
    }

    impl Fake {
        fn new() -> Fake {
            Fake { hang: false, fail: None, seen: Mutex::new(Vec::new()), cancelled: Mutex::new(false) }
        }
    }

    impl CredentialMaker for Fake {
        fn info(&self) -> BoxFuture<'_, Result<AuthenticatorInfo, KeyError>> {
            Box::pin(async { Ok(key_info()) })
        }
        fn make_credential(
            &self,
            request: MakeCredentialRequest,
            cancel: CancelToken,
        ) -> BoxFuture<'_, Result<MakeCredentialResponse, KeyError>> {
            Box::pin(async move {
                let rp = request.rp.id.clone();
                self.seen.lock().unwrap().push(request);
                if self.hang {
                    cancel.cancelled().await;
                    *self.cancelled.lock().unwrap() = true;
                    return Err(KeyError::Cancelled);
                }
                if let Some(e) = &self.fail {
                    return Err(e.clone());
                }
                Ok(response(&rp, "none", vec![0xa0]))
            })
        }
    }

    fn client() -> WebAuthnClient {
        WebAuthnClient::new(RpIdPolicy::new(["localhost"]))
    }

    fn localhost() -> Origin {
        Origin::parse("http://localhost:8080").unwrap()
    }

    #[tokio::test]
    async fn success_builds_a_complete_credential() {
        let fake = Fake::new();
        let cred = client()
            .create(&entra_like(), &localhost(), &FrameContext::TopLevel, &fake, &CancelToken::new())
            .await
            .unwrap();
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen[0].client_data_hash, client_data_hash(&cred.client_data_json));
        assert!(cred.client_data_json.starts_with(r#"{"type":"webauthn.create","challenge":""#));
        assert!(cred.client_data_json.ends_with(r#""origin":"http://localhost:8080","crossOrigin":false}"#));
        assert_eq!(cred.raw_id, vec![0xcc; 16]);
        assert_eq!(cred.public_key_algorithm, -7);
        assert_eq!(cred.public_key_spki.as_ref().map(Vec::len), Some(91));
        assert_eq!(cred.authenticator_data, cred.key_response.auth_data);
        let json = cred.registration_response_json();
        assert_eq!(json["type"], "public-key");
        assert_eq!(json["response"]["transports"], serde_json::json!(["usb"]));
        assert_eq!(json["clientExtensionResults"], serde_json::json!({"credProps": {"rk": true}, "hmacCreateSecret": false}));
    }

    #[tokio::test]
    async fn refusals_never_reach_the_key() {
        let fake = Fake::new();
        let c = client();
        let o = localhost();
        let mut wrong_rp = entra_like();
        wrong_rp["rp"]["id"] = "login.microsoft.com".into();
        let e = c.create(&wrong_rp, &o, &FrameContext::TopLevel, &fake, &CancelToken::new()).await.unwrap_err();
        assert_eq!(e.dom_exception().name, "SecurityError");
        let top = FrameContext::CrossOriginFrame { top_origin: Origin::parse("https://portal.example").unwrap() };
        let e = c.create(&entra_like(), &o, &top, &fake, &CancelToken::new()).await.unwrap_err();
        assert_eq!(e.dom_exception().name, "NotAllowedError");
        let e = c
            .create(&entra_like(), &Origin::parse("http://127.0.0.1:8080").unwrap(), &FrameContext::TopLevel, &fake, &CancelToken::new())
            .await
            .unwrap_err();
        assert_eq!(e.dom_exception().name, "SecurityError");
        assert!(fake.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn cross_origin_frames_get_top_origin_when_allowed() {
        let fake = Fake::new();
        let mut c = client();
        c.allow_cross_origin_frames = true;
        let top = FrameContext::CrossOriginFrame { top_origin: Origin::parse("https://portal.example").unwrap() };
        let cred = c.create(&entra_like(), &localhost(), &top, &fake, &CancelToken::new()).await.unwrap();
        assert!(cred.client_data_json.ends_with(r#""crossOrigin":true,"topOrigin":"https://portal.example"}"#));
    }

    #[tokio::test]
    async fn abort_cancels_the_key_operation() {
        let mut fake = Fake::new();
        fake.hang = true;
        let abort = CancelToken::new();
        let c = client();
        let o = localhost();
        let opts = entra_like();
        let run = c.create(&opts, &o, &FrameContext::TopLevel, &fake, &abort);
        let trigger = async {
            while fake.seen.lock().unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
            abort.cancel();
        };
        let (r, ()) = tokio::join!(run, trigger);
        assert_eq!(r.unwrap_err(), WebAuthnError::Aborted);
        assert!(*fake.cancelled.lock().unwrap());
    }

    #[tokio::test]
    async fn timeout_cancels_the_key_operation() {
        let mut fake = Fake::new();
        fake.hang = true;
        let p = prepare(&CreationOptions::from_json(&entra_like()).unwrap(), "localhost", [0; 32], &key_info()).unwrap();
        let t = Duration::from_millis(50);
        let r = run_key_operation(&fake, p.ctap, t, &CancelToken::new()).await;
        assert_eq!(r.unwrap_err(), WebAuthnError::Timeout(t));
        assert!(*fake.cancelled.lock().unwrap());
    }

    #[tokio::test]
    async fn key_failures_are_typed() {
        let mut fake = Fake::new();
        fake.fail = Some(KeyError::CredentialExcluded);
        let e = client().create(&entra_like(), &localhost(), &FrameContext::TopLevel, &fake, &CancelToken::new()).await.unwrap_err();
        assert_eq!(e, WebAuthnError::CredentialExcluded);
        assert_eq!(e.dom_exception().name, "InvalidStateError");
        fake.fail = Some(KeyError::Removed);
        let e = client().create(&entra_like(), &localhost(), &FrameContext::TopLevel, &fake, &CancelToken::new()).await.unwrap_err();
        assert_eq!(e, WebAuthnError::Key(KeyError::Removed));
        assert_eq!(e.dom_exception().name, "NotAllowedError");
    }
}
