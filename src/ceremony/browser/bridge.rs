//! keystation's side of the WebAuthn bridge: one handler per enrolment context.
//!
//! For every `create` the page sends, the handler takes the caller's origin and frame
//! position from the browser, runs the WebAuthn client (allow-listed rp.id,
//! Chromium's rules, clientDataJSON, makeCredential on the key through
//! [`CredentialMaker`]) and answers the page through the message's private reply
//! function. A `cancel` from the same realm aborts the running ceremony (the key
//! operation is cancelled with CTAPHID_CANCEL by the key layer); so does the calling
//! document going away. Every outcome is also reported to the Rust side as a
//! [`BridgeEvent`].
use super::bidi::Bidi;
use super::frames;
use super::gate::ContextOptions;
use super::messages::{self, ChannelMessage, PageRequest};
use crate::ceremony::webauthn::{CancelToken, CreatedCredential, CredentialMaker, FrameContext, WebAuthnClient, WebAuthnError};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The bridge script, installed as a preload script (`function (send) { ... }`).
pub const BRIDGE_JS: &str = include_str!("bridge.js");

/// Calls the page's private reply function: `m` is the message array, `m[1]` the reply.
const REPLY_FN: &str = "function (m, r) { m[1](r); }";

/// What happened in the page, for the station and the tests.
#[derive(Debug, Clone)]
pub enum BridgeEvent {
    /// A `create()` call arrived and its caller was resolved by the browser.
    CreateStarted {
        /// The caller's origin (browser-reported).
        origin: String,
        /// The browsing context that called.
        context: String,
    },
    /// The page received a credential.
    Registered(Box<CreatedCredential>),
    /// The page's `create()` failed with this error (the page got its DOMException).
    Failed {
        /// The caller's origin when it was known.
        origin: Option<String>,
        /// Why.
        error: WebAuthnError,
    },
    /// The page called `navigator.credentials.get()`; it was refused (modal) or left
    /// pending (conditional).
    GetRefused {
        /// The calling browsing context.
        context: String,
        /// `mediation: "conditional"`.
        conditional: bool,
    },
    /// A channel message that does not follow the bridge protocol was dropped.
    MessageRefused {
        /// What was wrong with it.
        reason: String,
    },
    /// The context's [`super::CeremonyGate`] refused to let the ceremony go on (the
    /// journal could not record the next step). The page got `NotAllowedError`.
    GateRefused {
        /// `make_credential` (the key was not touched) or `submit` (the credential was
        /// made but never given to the page).
        stage: &'static str,
        /// The gate's reason.
        reason: String,
    },
}

/// What the event router hands a bridge.
#[derive(Debug, Clone)]
pub(crate) enum RouterEvent {
    /// `script.message` params on this bridge's channel.
    Message(Value),
    /// A realm went away (navigation, frame removal, tab closed).
    RealmDestroyed(String),
}

struct Pending {
    id: String,
    realm: String,
    abort: CancelToken,
}

/// One enrolment's bridge.
pub(crate) struct Bridge {
    bidi: Bidi,
    channel: String,
    user_context: String,
    client: WebAuthnClient,
    maker: Arc<dyn CredentialMaker>,
    options: ContextOptions,
    events: mpsc::UnboundedSender<BridgeEvent>,
    pending: Mutex<Option<Pending>>,
    ceremony_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Why a ceremony ended without a credential for the page.
enum Stop {
    Failed(WebAuthnError),
    Gate { stage: &'static str, reason: String },
}

/// How long closing a context waits for a cancelled key operation to wind down.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Bridge {
    pub(crate) fn new(
        bidi: Bidi,
        channel: String,
        user_context: String,
        client: WebAuthnClient,
        maker: Arc<dyn CredentialMaker>,
        options: ContextOptions,
        events: mpsc::UnboundedSender<BridgeEvent>,
    ) -> Arc<Bridge> {
        Arc::new(Bridge {
            bidi,
            channel,
            user_context,
            client,
            maker,
            options,
            events,
            pending: Mutex::new(None),
            ceremony_task: Mutex::new(None),
        })
    }

    /// Serve router events until the router drops its sender.
    pub(crate) async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<RouterEvent>) {
        while let Some(ev) = rx.recv().await {
            match ev {
                RouterEvent::Message(params) => self.on_message(&params).await,
                RouterEvent::RealmDestroyed(realm) => self.abort_if(|p| p.realm == realm),
            }
        }
        // The context is closing: stop whatever the key is doing for it and wait until
        // the key is idle again, so the caller may use it for something else.
        self.abort_if(|_| true);
        let running = self.ceremony_task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = running {
            let _ = tokio::time::timeout(CLOSE_GRACE, task).await;
        }
    }

    fn emit(&self, ev: BridgeEvent) {
        let _ = self.events.send(ev);
    }

    fn abort_if(&self, pred: impl Fn(&Pending) -> bool) {
        if let Ok(guard) = self.pending.lock()
            && let Some(p) = guard.as_ref()
            && pred(p)
        {
            p.abort.cancel();
        }
    }

    async fn on_message(self: &Arc<Self>, params: &Value) {
        let msg = match messages::parse(params, &self.channel) {
            Ok(m) => m,
            Err(reason) => {
                if let (Some(realm), Some(h)) = (params["source"]["realm"].as_str(), params["data"]["handle"].as_str()) {
                    self.bidi.disown(realm, &[h.to_string()]).await;
                }
                self.emit(BridgeEvent::MessageRefused { reason });
                return;
            }
        };
        if msg.user_context.as_deref().is_some_and(|u| u != self.user_context) {
            self.emit(BridgeEvent::MessageRefused { reason: "message from another user context".into() });
            return;
        }
        match &msg.request {
            PageRequest::Create { id, .. } => {
                let abort = CancelToken::new();
                let busy = {
                    let mut guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    if guard.is_some() {
                        true
                    } else {
                        *guard = Some(Pending { id: id.clone(), realm: msg.realm.clone(), abort: abort.clone() });
                        false
                    }
                };
                if busy {
                    self.answer(&msg, Err(WebAuthnError::PendingRequest)).await;
                    self.emit(BridgeEvent::Failed { origin: None, error: WebAuthnError::PendingRequest });
                    return;
                }
                let me = Arc::clone(self);
                let task = tokio::spawn(async move { me.ceremony(msg, abort).await });
                if let Ok(mut slot) = self.ceremony_task.lock() {
                    *slot = Some(task);
                }
            }
            PageRequest::Cancel { id } => {
                self.abort_if(|p| &p.id == id && p.realm == msg.realm);
                self.release(&msg).await;
            }
            PageRequest::Get { conditional, .. } => {
                self.emit(BridgeEvent::GetRefused { context: msg.context.clone(), conditional: *conditional });
                self.release(&msg).await;
            }
        }
    }

    async fn ceremony(self: Arc<Self>, msg: ChannelMessage, abort: CancelToken) {
        let PageRequest::Create { public_key, .. } = &msg.request else { return };
        let caller = frames::resolve(&self.bidi, &msg.context, &msg.realm, &self.user_context).await;
        let (origin, result) = match caller {
            Err(e) => (None, Err(Stop::Failed(e))),
            Ok(caller) => {
                let origin = caller.origin.to_string();
                self.emit(BridgeEvent::CreateStarted { origin: origin.clone(), context: msg.context.clone() });
                let client = self.client_for(&caller.frame);
                let r = self.gated_create(&client, public_key, &caller, &abort).await;
                (Some(origin), r)
            }
        };
        // Free the slot before answering: a page may start its next call from the
        // promise's continuation.
        if let Ok(mut guard) = self.pending.lock() {
            *guard = None;
        }
        // The event goes out before the page learns the outcome: a page that reacts
        // to a failure (posting an error, showing a banner) must not be seen by the
        // flow before the precise reason is.
        match result {
            Ok(cred) => {
                let answer = cred.clone();
                self.emit(BridgeEvent::Registered(Box::new(cred)));
                self.answer(&msg, Ok(&answer)).await;
            }
            Err(Stop::Failed(error)) => {
                self.emit(BridgeEvent::Failed { origin, error: error.clone() });
                self.answer(&msg, Err(error)).await;
            }
            Err(Stop::Gate { stage, reason }) => {
                self.emit(BridgeEvent::GateRefused { stage, reason });
                self.answer(&msg, Err(WebAuthnError::Internal("the station could not record the next step".into()))).await;
            }
        }
    }

    /// The context's client, allowed to serve a cross-origin frame only when the
    /// top-level document is one the context's options name.
    fn client_for(&self, frame: &FrameContext) -> WebAuthnClient {
        let mut client = self.client.clone();
        if let FrameContext::CrossOriginFrame { top_origin } = frame
            && self.options.cross_origin_frames_under.iter().any(|o| *o == top_origin.to_string())
        {
            client.allow_cross_origin_frames = true;
        }
        client
    }

    /// The WebAuthn client's create, with the gate asked before the key is touched
    /// (only once every check that needs no key has passed) and before the page
    /// receives the credential.
    async fn gated_create(
        &self,
        client: &WebAuthnClient,
        public_key: &serde_json::Value,
        caller: &frames::Caller,
        abort: &CancelToken,
    ) -> Result<CreatedCredential, Stop> {
        if let Some(gate) = &self.options.gate {
            client.precheck(public_key, &caller.origin, &caller.frame).map_err(Stop::Failed)?;
            gate.before_make_credential().await.map_err(|reason| Stop::Gate { stage: "make_credential", reason })?;
        }
        let cred = client.create(public_key, &caller.origin, &caller.frame, self.maker.as_ref(), abort).await.map_err(Stop::Failed)?;
        if let Some(gate) = &self.options.gate {
            gate.before_submit(&cred).await.map_err(|reason| Stop::Gate { stage: "submit", reason })?;
        }
        Ok(cred)
    }

    /// Resolve or reject the page's promise, then release the message handle.
    async fn answer(&self, msg: &ChannelMessage, result: Result<&CreatedCredential, WebAuthnError>) {
        let reply = match result {
            Ok(cred) => json!({ "ok": true, "credential": cred.registration_response_json() }),
            Err(e) => {
                let d = e.dom_exception();
                json!({ "ok": false, "name": d.name, "message": d.message })
            }
        };
        if let Some(handle) = &msg.handle {
            // The realm may be gone (navigation, abort); then there is nobody to answer.
            let _ = self
                .bidi
                .call_function(&msg.realm, REPLY_FN, json!([{ "handle": handle }, { "type": "string", "value": reply.to_string() }]))
                .await;
        }
        self.release(msg).await;
    }

    async fn release(&self, msg: &ChannelMessage) {
        if let Some(handle) = &msg.handle {
            self.bidi.disown(&msg.realm, std::slice::from_ref(handle)).await;
        }
    }
}
