//! keystation's own `opensk::env::Env`: what OpenSK's CTAP core needs from "the board".
//!
//! * randomness: the OS generator for every draw (no seed, nothing shared between keys);
//! * clock: real monotonic time since power-up plus what tests added
//!   ([`super::VirtualKey::advance_uptime`]);
//! * user presence: the key's scripted [`super::Touch`], waiting on the same condition
//!   variable as the report queues so that a CANCEL written by the host during the wait
//!   is handed to OpenSK at once;
//! * HID connection: the KEEPALIVEs OpenSK sends during a touch wait go straight to every
//!   open handle;
//! * persistence: wasefire-store (OpenSK's flash store) on a RAM flash image.
use super::flash::{flash_image, RamFlash};
use super::shared::Shared;
use super::Touch;
use opensk::api::clock::Clock;
use opensk::api::connection::{HidConnection, RecvStatus, UsbEndpoint};
use opensk::api::crypto::software_crypto::SoftwareCrypto;
use opensk::api::customization::Customization;
use opensk::api::key_store;
use opensk::api::persist::{Persist, PersistIter};
use opensk::api::rng::rand_core::{CryptoRng, Error as RandError, RngCore};
use opensk::api::rng::Rng;
use opensk::api::user_presence::{UserPresence, UserPresenceError, UserPresenceWaitResult};
use opensk::ctap::data_formats::{CredentialProtectionPolicy, EnterpriseAttestationMode};
use opensk::ctap::status_code::{Ctap2StatusCode, CtapResult};
use opensk::env::Env;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasefire_store::Store;

/// What OpenSK reports when the power went away under it (the key was unplugged while
/// it was waiting for a touch): the command ends, nobody will read the answer.
const POWER_LOST: Ctap2StatusCode = Ctap2StatusCode::CTAP2_ERR_VENDOR_HARDWARE_FAILURE;

/// The environment of one power cycle of one virtual key.
pub(crate) struct KeyEnv {
    rng: OsRandom,
    presence: ScriptedPresence,
    store: Store<RamFlash>,
    /// The store changed since the state file was last written.
    dirty: bool,
    customization: KeyCustomization,
    hid: HostLink,
    clock: UptimeClock,
    firmware_version: u64,
}

impl KeyEnv {
    /// `generation` is the plug generation this power cycle belongs to; once the key's
    /// generation moves on, everything this environment does fails fast.
    pub fn new(
        shared: &Arc<Shared>,
        generation: u64,
        flash: RamFlash,
        customization: KeyCustomization,
        firmware_version: u64,
    ) -> Result<KeyEnv, String> {
        let store = Store::new(flash).map_err(|(e, _)| format!("the flash image is not a valid OpenSK store ({e:?})"))?;
        Ok(KeyEnv {
            rng: OsRandom,
            presence: ScriptedPresence { shared: Arc::clone(shared), generation, started: Instant::now() },
            store,
            dirty: false,
            customization,
            hid: HostLink { shared: Arc::clone(shared), generation },
            clock: UptimeClock { shared: Arc::clone(shared) },
            firmware_version,
        })
    }

    /// The flash as it is now (to survive a power cycle or go to the state file).
    pub fn flash_image(&self) -> Vec<u8> {
        flash_image(self.store.storage())
    }

    /// Whether the store changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }
}

// ---- randomness -------------------------------------------------------------------

/// Every byte straight from the operating system's CSPRNG.
pub(crate) struct OsRandom;

impl RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        rand::rngs::OsRng.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        rand::rngs::OsRng.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), RandError> {
        rand::rngs::OsRng.try_fill_bytes(dest)
    }
}
impl CryptoRng for OsRandom {}
impl Rng for OsRandom {}

// ---- clock --------------------------------------------------------------------------

/// Milliseconds since power-up at which a timer expires. The default (0) has always
/// expired, as OpenSK requires.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UptimeDeadline(u128);

pub(crate) struct UptimeClock {
    shared: Arc<Shared>,
}

impl UptimeClock {
    fn now_ms(&self) -> u128 {
        self.shared.uptime().as_millis()
    }
}

impl Clock for UptimeClock {
    type Timer = UptimeDeadline;
    fn make_timer(&mut self, milliseconds: usize) -> UptimeDeadline {
        UptimeDeadline(self.now_ms() + milliseconds as u128)
    }
    fn is_elapsed(&mut self, timer: &UptimeDeadline) -> bool {
        self.now_ms() >= timer.0
    }
}

// ---- user presence ------------------------------------------------------------------

/// OpenSK calls `wait_with_timeout` in a loop with 100 ms slices; after every slice
/// without a touch it sends a KEEPALIVE(UPNEEDED) itself, and it inspects any packet we
/// hand back (CANCEL on the waiting channel aborts, other channels get CHANNEL_BUSY).
pub(crate) struct ScriptedPresence {
    shared: Arc<Shared>,
    generation: u64,
    started: Instant,
}

impl UserPresence for ScriptedPresence {
    fn check_init(&mut self) {
        self.started = Instant::now();
        self.shared.update(|s| s.counters.touch_requests += 1);
    }

    fn wait_with_timeout(&mut self, packet: &mut [u8; 64], timeout_ms: usize) -> UserPresenceWaitResult {
        let slice_end = Instant::now() + Duration::from_millis(timeout_ms as u64);
        let mut s = self.shared.lock();
        loop {
            if s.shutdown || !s.plugged || s.generation != self.generation {
                return Err(POWER_LOST);
            }
            let touch_at = match s.touch {
                Touch::Instant => Some(self.started),
                Touch::After(d) => Some(self.started + d),
                Touch::Deny | Touch::Never => None,
            };
            let now = Instant::now();
            let outcome = match s.touch {
                Touch::Deny => Some(Err(UserPresenceError::Declined)),
                _ if touch_at.is_some_and(|t| now >= t) => Some(Ok(())),
                _ => None,
            };
            if !s.hung
                && let Some(incoming) = s.to_key.pop_front()
            {
                *packet = incoming;
                let status = outcome.unwrap_or(Err(UserPresenceError::Timeout));
                return Ok((status, RecvStatus::Received(UsbEndpoint::MainHid)));
            }
            if let Some(status) = outcome {
                return Ok((status, RecvStatus::Timeout));
            }
            if now >= slice_end {
                return Ok((Err(UserPresenceError::Timeout), RecvStatus::Timeout));
            }
            let wake = touch_at.map_or(slice_end, |t| t.min(slice_end));
            s = self.shared.wait(s, Some(wake));
        }
    }

    fn check_complete(&mut self) {}
}

// ---- HID connection -------------------------------------------------------------------

/// The firmware's side of the USB link.
pub(crate) struct HostLink {
    shared: Arc<Shared>,
    generation: u64,
}

impl HidConnection for HostLink {
    fn send(&mut self, buf: &[u8; 64], _endpoint: UsbEndpoint) -> CtapResult<()> {
        if self.shared.deliver(self.generation, buf) { Ok(()) } else { Err(POWER_LOST) }
    }

    // OpenSK's library core never calls this (the firmware main loop would); implemented
    // for completeness with the same semantics as the user-presence wait.
    fn recv(&mut self, buf: &mut [u8; 64], timeout_ms: usize) -> CtapResult<RecvStatus> {
        let end = Instant::now() + Duration::from_millis(timeout_ms as u64);
        let mut s = self.shared.lock();
        loop {
            if s.shutdown || !s.plugged || s.generation != self.generation {
                return Err(POWER_LOST);
            }
            if !s.hung
                && let Some(incoming) = s.to_key.pop_front()
            {
                *buf = incoming;
                return Ok(RecvStatus::Received(UsbEndpoint::MainHid));
            }
            if Instant::now() >= end {
                return Ok(RecvStatus::Timeout);
            }
            s = self.shared.wait(s, Some(end));
        }
    }
}

// ---- customization ----------------------------------------------------------------------

/// OpenSK's compile-time constants, chosen per key at run time.
#[derive(Debug, Clone)]
pub(crate) struct KeyCustomization {
    pub default_min_pin_length: u8,
    pub enterprise_attestation_mode: Option<EnterpriseAttestationMode>,
    pub enterprise_rp_ids: Vec<String>,
    pub max_msg_size: usize,
    pub use_batch_attestation: bool,
    pub max_credential_count_in_list: Option<usize>,
    pub max_supported_resident_keys: usize,
}

impl Customization for KeyCustomization {
    fn allows_pin_protocol_v1(&self) -> bool {
        true
    }
    fn default_cred_protect(&self) -> Option<CredentialProtectionPolicy> {
        None
    }
    fn default_min_pin_length(&self) -> u8 {
        self.default_min_pin_length
    }
    fn default_min_pin_length_rp_ids(&self) -> Vec<String> {
        Vec::new()
    }
    fn enforce_always_uv(&self) -> bool {
        false
    }
    fn enterprise_attestation_mode(&self) -> Option<EnterpriseAttestationMode> {
        self.enterprise_attestation_mode
    }
    fn enterprise_rp_id_list(&self) -> Vec<String> {
        self.enterprise_rp_ids.clone()
    }
    fn is_enterprise_rp_id(&self, rp_id: &str) -> bool {
        self.enterprise_rp_ids.iter().any(|id| id == rp_id)
    }
    fn max_msg_size(&self) -> usize {
        self.max_msg_size
    }
    fn max_pin_retries(&self) -> u8 {
        8
    }
    fn use_batch_attestation(&self) -> bool {
        self.use_batch_attestation
    }
    fn use_signature_counter(&self) -> bool {
        true
    }
    fn max_cred_blob_length(&self) -> usize {
        32
    }
    fn max_credential_count_in_list(&self) -> Option<usize> {
        self.max_credential_count_in_list
    }
    fn max_large_blob_array_size(&self) -> usize {
        2048
    }
    fn max_rp_ids_length(&self) -> usize {
        8
    }
    fn max_supported_resident_keys(&self) -> usize {
        self.max_supported_resident_keys
    }
}

// ---- persistence ---------------------------------------------------------------------

impl Persist for KeyEnv {
    fn find(&self, key: usize) -> CtapResult<Option<Vec<u8>>> {
        Ok(self.store.find(key)?)
    }
    fn insert(&mut self, key: usize, value: &[u8]) -> CtapResult<()> {
        self.dirty = true;
        Ok(self.store.insert(key, value)?)
    }
    fn remove(&mut self, key: usize) -> CtapResult<()> {
        self.dirty = true;
        Ok(self.store.remove(key)?)
    }
    fn iter(&self) -> CtapResult<PersistIter<'_>> {
        Ok(Box::new(self.store.iter()?.map(|handle| match handle {
            Ok(handle) => Ok(handle.get_key()),
            Err(error) => Err(error.into()),
        })))
    }
}

impl key_store::Helper for KeyEnv {}

/// Debug output sink (only used by OpenSK's `debug_ctap` feature, which we do not enable).
pub(crate) struct NoDebugOutput;

impl core::fmt::Write for NoDebugOutput {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

impl Env for KeyEnv {
    type Rng = OsRandom;
    type UserPresence = ScriptedPresence;
    type Persist = Self;
    type KeyStore = Self;
    type Write = NoDebugOutput;
    type Customization = KeyCustomization;
    type HidConnection = HostLink;
    type Clock = UptimeClock;
    type Crypto = SoftwareCrypto;

    fn rng(&mut self) -> &mut OsRandom {
        &mut self.rng
    }
    fn user_presence(&mut self) -> &mut ScriptedPresence {
        &mut self.presence
    }
    fn persist(&mut self) -> &mut Self {
        self
    }
    fn key_store(&mut self) -> &mut Self {
        self
    }
    fn clock(&mut self) -> &mut UptimeClock {
        &mut self.clock
    }
    fn write(&mut self) -> NoDebugOutput {
        NoDebugOutput
    }
    fn customization(&self) -> &KeyCustomization {
        &self.customization
    }
    fn hid_connection(&mut self) -> &mut HostLink {
        &mut self.hid
    }
    fn boots_after_soft_reset(&self) -> bool {
        // Every power-up of a virtual key is a user's plug-in: the reset window opens.
        false
    }
    fn firmware_version(&self) -> Option<u64> {
        Some(self.firmware_version)
    }

    /// OpenSK sees every CTAP2 command here first. keystation uses the hook for one
    /// rule OpenSK lacks: an allowList/excludeList longer than the advertised
    /// maxCredentialCountInList is refused, as a key with a small buffer would, so that
    /// a client that forgets to batch fails in tests instead of on a real key.
    fn process_vendor_command(&mut self, bytes: &[u8], _channel: opensk::ctap::Channel) -> Option<Vec<u8>> {
        let limit = self.customization.max_credential_count_in_list?;
        list_too_long(bytes, limit).then(|| vec![Ctap2StatusCode::CTAP2_ERR_LIMIT_EXCEEDED as u8])
    }
}

/// Whether a makeCredential (excludeList, key 5) or getAssertion (allowList, key 3)
/// request carries more than `limit` credentials. Malformed requests are left to OpenSK.
fn list_too_long(command: &[u8], limit: usize) -> bool {
    let list_key = match command.first() {
        Some(0x01) => 5,
        Some(0x02) => 3,
        _ => return false,
    };
    let Ok(ciborium::Value::Map(params)) = ciborium::from_reader::<ciborium::Value, _>(&command[1..]) else {
        return false;
    };
    params.iter().any(|(k, v)| {
        k.as_integer() == Some(list_key.into()) && v.as_array().is_some_and(|list| list.len() > limit)
    })
}
