//! [`KeyHandle`]: the async face of one opened key.
//!
//! Each handle owns an OS thread that owns the [`Device`] (and so the report I/O).
//! Requests travel to it over a channel and answers come back on a oneshot, so every
//! method is an ordinary `async fn` usable from tokio, and many keys work at once
//! without blocking the runtime. Requests on one handle run one after another.
//!
//! Guarantees:
//! * every operation has a deadline (`op_timeout`, stretched to `touch_timeout` once the
//!   key waits for a touch), enforced between reads of at most 100 ms;
//! * [`KeyHandle::cancel`] / [`Canceller::cancel`] from any task, or dropping the
//!   operation's future, sends CTAPHID_CANCEL and ends it with [`KeyError::Cancelled`];
//! * an unplugged key is [`KeyError::Removed`] as soon as the transport says so;
//! * the "touch the key" callback fires at most once per operation;
//! * the worker thread ends once the handle is dropped (see [`KeyHandle::exited`]).
//!
//! [`discovery`] adds the watcher's AAGUID probe and the re-plug-then-reset flow.
#![warn(missing_docs)]
pub mod discovery;

pub use discovery::{aaguid_probe, reset_after_replug, wait_for_replug};

use crate::key::ctap2::{AuthenticatorInfo, ConfigCommand, CredentialsMetadata, MakeCredentialRequest, MakeCredentialResponse, MinPinLength, PinRetries, StoredCredential};
use crate::key::ctaphid::{CancelToken, InitInfo, Op};
use crate::key::device::Device;
use crate::key::pin_protocol::PinUvAuthProtocol;
use crate::key::{KeyDescriptor, KeyError, ReportIo};
use crate::secret::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Called (on the key's worker thread) when the key starts waiting for a touch.
pub type TouchCallback = Arc<dyn Fn(&KeyDescriptor) + Send + Sync>;

/// How a handle treats its key.
#[derive(Clone)]
pub struct HandleOptions {
    /// Deadline for an operation while the key is not waiting for a person (default 5 s).
    pub op_timeout: Duration,
    /// Time a person gets once the key asks for a touch (default 30 s).
    pub touch_timeout: Duration,
    /// "Touch the key" prompt; fires once per operation.
    pub on_touch: Option<TouchCallback>,
    /// Use only this PIN/UV auth protocol (default: 2 when the key offers it, else 1).
    pub pin_protocol: Option<PinUvAuthProtocol>,
}

impl Default for HandleOptions {
    fn default() -> Self {
        HandleOptions { op_timeout: Duration::from_secs(5), touch_timeout: Duration::from_secs(30), on_touch: None, pin_protocol: None }
    }
}

impl std::fmt::Debug for HandleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleOptions")
            .field("op_timeout", &self.op_timeout)
            .field("touch_timeout", &self.touch_timeout)
            .field("on_touch", &self.on_touch.is_some())
            .field("pin_protocol", &self.pin_protocol)
            .finish()
    }
}

/// Cancels whatever a handle is doing or has queued at the moment of the call. Cheap to
/// clone and usable from any thread or task; operations started later are unaffected.
#[derive(Clone, Default)]
pub struct Canceller {
    inner: Arc<Mutex<CancelSet>>,
}

#[derive(Default)]
struct CancelSet {
    next: u64,
    live: HashMap<u64, CancelToken>,
}

impl Canceller {
    /// Cancel every operation in flight or queued on the handle.
    pub fn cancel(&self) {
        for t in self.lock().live.values() {
            t.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CancelSet> {
        // The set is consistent between statements; a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, token: CancelToken) -> u64 {
        let mut set = self.lock();
        set.next += 1;
        let id = set.next;
        set.live.insert(id, token);
        id
    }

    fn unregister(&self, id: u64) {
        self.lock().live.remove(&id);
    }
}

impl std::fmt::Debug for Canceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Canceller")
    }
}

/// Cancels its operation when the awaiting future is dropped before the answer.
struct InFlight {
    canceller: Canceller,
    id: u64,
    token: CancelToken,
    done: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.token.cancel();
        }
        self.canceller.unregister(self.id);
    }
}

type Work = Box<dyn FnOnce(&mut Device, &Op<'_>) + Send>;

struct Job {
    token: CancelToken,
    work: Work,
}

/// Shared between the handle and its worker: what the key said when last asked.
#[derive(Default)]
struct Snapshot {
    info: AuthenticatorInfo,
    init: Option<InitInfo>,
}

/// An opened key (see the module docs for the guarantees).
pub struct KeyHandle {
    descriptor: KeyDescriptor,
    jobs: mpsc::Sender<Job>,
    canceller: Canceller,
    snapshot: Arc<Mutex<Snapshot>>,
    exited: watch::Receiver<bool>,
    forced_protocol: Option<PinUvAuthProtocol>,
}

impl std::fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyHandle").field("path", &self.descriptor.path).finish()
    }
}

impl KeyHandle {
    /// Start the key's worker thread, allocate a CTAPHID channel and read getInfo.
    /// Nothing else is sent, so [`KeyHandle::reset`] right after still falls inside the
    /// key's power-up window.
    pub async fn open(descriptor: KeyDescriptor, io: Box<dyn ReportIo>, options: HandleOptions) -> Result<KeyHandle, KeyError> {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let (opened_tx, opened_rx) = oneshot::channel::<Result<(), KeyError>>();
        let (exit_tx, exit_rx) = watch::channel(false);
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let canceller = Canceller::default();
        let token = CancelToken::new();
        let guard = InFlight { canceller: canceller.clone(), id: canceller.register(token.clone()), token: token.clone(), done: false };

        let forced_protocol = options.pin_protocol;
        let worker_snapshot = Arc::clone(&snapshot);
        let worker_descriptor = descriptor.clone();
        std::thread::Builder::new()
            .name(format!("key {}", descriptor.path))
            .spawn(move || {
                run_worker(worker_descriptor, io, options, token, opened_tx, jobs_rx, worker_snapshot);
                // Dropping the device (and its report I/O) happened inside run_worker.
                let _ = exit_tx.send(true);
            })
            .map_err(|e| KeyError::Transport(format!("cannot start a worker thread for the key: {e}")))?;

        let mut guard = guard;
        let opened = opened_rx.await.unwrap_or(Err(KeyError::Transport("the key's worker thread ended unexpectedly".into())));
        guard.done = true;
        drop(guard);
        opened?;
        Ok(KeyHandle { descriptor, jobs: jobs_tx, canceller, snapshot, exited: exit_rx, forced_protocol })
    }

    /// How the key was found (path, ids, names).
    pub fn descriptor(&self) -> &KeyDescriptor {
        &self.descriptor
    }

    /// getInfo as last read (at open, and refreshed after every command that changes it).
    pub fn info(&self) -> AuthenticatorInfo {
        lock(&self.snapshot).info.clone()
    }

    /// What CTAPHID_INIT reported (device version, capability flags).
    pub fn hid_info(&self) -> Option<InitInfo> {
        lock(&self.snapshot).init
    }

    /// The PIN/UV auth protocol this handle uses with the key (2 when offered, unless
    /// [`HandleOptions::pin_protocol`] forces one).
    pub fn pin_protocol(&self) -> Result<PinUvAuthProtocol, KeyError> {
        PinUvAuthProtocol::choose(&lock(&self.snapshot).info.pin_uv_auth_protocols, self.forced_protocol)
    }

    /// A cancel handle for this key's operations, for other tasks.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Cancel whatever this handle is doing or has queued.
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    /// Resolves once the worker thread has ended and released the key (after the
    /// handle is dropped, or when the thread died).
    pub fn exited(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.exited.clone();
        async move {
            // An error means the sender is gone, i.e. the thread has ended too.
            let _ = rx.wait_for(|ended| *ended).await;
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Device, &Op<'_>) -> Result<T, KeyError> + Send + 'static) -> Result<T, KeyError> {
        let (tx, rx) = oneshot::channel();
        let snapshot = Arc::clone(&self.snapshot);
        let token = CancelToken::new();
        let mut guard = InFlight { canceller: self.canceller.clone(), id: self.canceller.register(token.clone()), token: token.clone(), done: false };
        let job = Job {
            token,
            work: Box::new(move |device: &mut Device, op: &Op<'_>| {
                let result = work(device, op);
                // Update the cached info before answering, so the caller sees it.
                lock(&snapshot).info = device.info().clone();
                let _ = tx.send(result);
            }),
        };
        // The worker only stops early if it panicked: say so rather than blame the key.
        let stopped = || KeyError::Transport("the key's worker thread stopped unexpectedly; open the key again".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        let result = rx.await.unwrap_or_else(|_| Err(stopped()));
        guard.done = true;
        result
    }

    /// getInfo, read afresh.
    pub async fn get_info(&self) -> Result<AuthenticatorInfo, KeyError> {
        self.run(|d, op| d.get_info(op)).await
    }

    /// PIN attempts left (and whether a power cycle is needed first).
    pub async fn pin_retries(&self) -> Result<PinRetries, KeyError> {
        self.run(|d, op| d.pin_retries(op)).await
    }

    /// Built-in user verification attempts left (fingerprint keys).
    pub async fn uv_retries(&self) -> Result<u8, KeyError> {
        self.run(|d, op| d.uv_retries(op)).await
    }

    /// Set the first PIN (checked against the key's minimum length before sending).
    pub async fn set_pin(&self, new_pin: &SecretString) -> Result<(), KeyError> {
        let new_pin = new_pin.clone();
        self.run(move |d, op| d.set_pin(&new_pin, op)).await
    }

    /// Change the PIN.
    pub async fn change_pin(&self, current: &SecretString, new_pin: &SecretString) -> Result<(), KeyError> {
        let (current, new_pin) = (current.clone(), new_pin.clone());
        self.run(move |d, op| d.change_pin(&current, &new_pin, op)).await
    }

    /// Factory reset (needs a touch; only within ~10 s of plugging the key in, else
    /// [`KeyError::ResetWindowPassed`]). Call it first thing after [`KeyHandle::open`].
    pub async fn reset(&self) -> Result<(), KeyError> {
        self.run(|d, op| d.reset(op)).await
    }

    /// authenticatorConfig setMinPINLength. `pin` is needed once the key has a PIN.
    pub async fn set_min_pin_length(&self, pin: Option<&SecretString>, settings: MinPinLength) -> Result<(), KeyError> {
        self.config(pin, ConfigCommand::SetMinPinLength(settings)).await
    }

    /// Make the next PIN use demand a PIN change (setMinPINLength with forceChangePin).
    pub async fn force_pin_change(&self, pin: &SecretString) -> Result<(), KeyError> {
        self.set_min_pin_length(Some(pin), MinPinLength { force_change_pin: true, ..Default::default() }).await
    }

    /// authenticatorConfig toggleAlwaysUv.
    pub async fn toggle_always_uv(&self, pin: Option<&SecretString>) -> Result<(), KeyError> {
        self.config(pin, ConfigCommand::ToggleAlwaysUv).await
    }

    /// authenticatorConfig enableEnterpriseAttestation.
    pub async fn enable_enterprise_attestation(&self, pin: Option<&SecretString>) -> Result<(), KeyError> {
        self.config(pin, ConfigCommand::EnableEnterpriseAttestation).await
    }

    async fn config(&self, pin: Option<&SecretString>, command: ConfigCommand) -> Result<(), KeyError> {
        let pin = pin.cloned();
        self.run(move |d, op| d.config(pin.as_ref(), &command, op)).await
    }

    /// makeCredential (waits for a touch). With a PIN the credential is user-verified.
    pub async fn make_credential(&self, request: MakeCredentialRequest, pin: Option<&SecretString>) -> Result<MakeCredentialResponse, KeyError> {
        let pin = pin.cloned();
        self.run(move |d, op| d.make_credential(&request, pin.as_ref(), op)).await
    }

    /// Discoverable credentials stored and room left.
    pub async fn credentials_metadata(&self, pin: &SecretString) -> Result<CredentialsMetadata, KeyError> {
        let pin = pin.clone();
        self.run(move |d, op| d.credentials_metadata(&pin, op)).await
    }

    /// Every discoverable credential on the key.
    pub async fn list_credentials(&self, pin: &SecretString) -> Result<Vec<StoredCredential>, KeyError> {
        let pin = pin.clone();
        self.run(move |d, op| d.list_credentials(&pin, op)).await
    }

    /// Delete one discoverable credential by id.
    pub async fn delete_credential(&self, pin: &SecretString, credential_id: &[u8]) -> Result<(), KeyError> {
        let (pin, id) = (pin.clone(), credential_id.to_vec());
        self.run(move |d, op| d.delete_credential(&pin, &id, op)).await
    }

    /// authenticatorSelection: the key blinks and waits for a touch.
    pub async fn selection(&self) -> Result<(), KeyError> {
        self.run(|d, op| d.selection(op)).await
    }

    /// CTAPHID_WINK: blink, when the key can.
    pub async fn wink(&self) -> Result<(), KeyError> {
        self.run(|d, op| d.wink(op)).await
    }
}

impl Drop for KeyHandle {
    fn drop(&mut self) {
        // Futures borrow the handle, so none is awaiting now; cancel what may still be
        // queued by futures that were dropped, so the thread ends promptly.
        self.canceller.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn run_worker(
    descriptor: KeyDescriptor,
    io: Box<dyn ReportIo>,
    options: HandleOptions,
    open_token: CancelToken,
    opened: oneshot::Sender<Result<(), KeyError>>,
    jobs: mpsc::Receiver<Job>,
    snapshot: Arc<Mutex<Snapshot>>,
) {
    let prompt = options.on_touch.clone().map(|f| {
        let d = descriptor.clone();
        move || f(&d)
    });
    let prompt_ref = prompt.as_ref().map(|p| p as &dyn Fn());
    let new_op = |token: CancelToken| Op::new(options.op_timeout, options.touch_timeout, token, prompt_ref);

    let mut device = match Device::open(io, options.pin_protocol, &new_op(open_token)) {
        Ok(d) => d,
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    };
    *lock(&snapshot) = Snapshot { info: device.info().clone(), init: Some(device.init_info()) };
    if opened.send(Ok(())).is_err() {
        return; // the open was abandoned
    }
    while let Ok(job) = jobs.recv() {
        let op = new_op(job.token);
        (job.work)(&mut device, &op);
        lock(&snapshot).init = Some(device.init_info());
    }
    tracing::debug!(key = %descriptor.path, "key worker ends");
}
