//! The virtual FIDO2 key: Google's OpenSK CTAP2 core behind keystation's report seam.
//!
//! It is the demo's key and every test's key. Each [`VirtualKey`] runs OpenSK on its own
//! firmware thread, so a long touch wait never blocks the host side; [`VirtualKey::open`]
//! hands out `Box<dyn ReportIo>` handles that behave like hidraw file descriptors (each
//! has its own input queue and sees every report the key sends; CTAPHID clients filter by
//! channel). Tests script the user ([`Touch`]) and the hardware ([`VirtualKey::unplug`],
//! [`VirtualKey::replug`], [`VirtualKey::set_hung`], [`VirtualKey::advance_uptime`]).
//!
//! API contract with the CTAP client (`key::device`, tests/keys*): the names below are
//! the agreed ones; additions only (`try_new`, `with_state_file`, `counters`, …).
//! Behaviour that differs from CTAP 2.1 or from real keys is listed in
//! `docs/virtual-key.md`.
mod attestation;
mod env;
mod error;
mod firmware;
mod flash;
mod hub;
mod shared;

pub use attestation::{AttestationCa, IssuedAttestation, AAGUID_EXTENSION_OID, CA_CERT_FILE, CA_KEY_FILE};
pub use error::VirtualKeyError;
pub use hub::VirtualHub;
pub use shared::VirtualKeyCounters;

use crate::key::descriptor::{Backend, KeyDescriptor};
use crate::key::report::{IoError, ReportIo};
use env::KeyCustomization;
use firmware::{Firmware, Provisioned};
use flash::StateFile;
use opensk::api::persist::{Attestation, AttestationId};
use opensk::ctap::data_formats::EnterpriseAttestationMode;
use shared::Shared;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// keystation's virtual-key AAGUID, d5a92987-df19-484f-890d-2d49daf54f29 (a random v4
/// UUID generated once for this project; it names no real product).
pub const VIRTUAL_KEY_AAGUID: [u8; 16] = [
    0xd5, 0xa9, 0x29, 0x87, 0xdf, 0x19, 0x48, 0x4f, 0x89, 0x0d, 0x2d, 0x49, 0xda, 0xf5, 0x4f, 0x29,
];
/// USB vendor id reported for virtual keys: pid.codes (0x1209) …
pub const VIRTUAL_KEY_VENDOR_ID: u16 = 0x1209;
/// … and its product id 0x0001, reserved by pid.codes for private testing.
pub const VIRTUAL_KEY_PRODUCT_ID: u16 = 0x0001;
/// Manufacturer string of virtual keys.
pub const VIRTUAL_KEY_MANUFACTURER: &str = "keystation";
/// Product string of virtual keys.
pub const VIRTUAL_KEY_PRODUCT: &str = "Virtual FIDO2 Key";
/// Prefix of a virtual key's path; the full path is `virtual:<n>`.
pub const VIRTUAL_PATH_PREFIX: &str = "virtual:";
/// Firmware version in getInfo (0x0006): keystation's version as 0xMMmmpp.
pub const VIRTUAL_KEY_FIRMWARE_VERSION: u64 = 0x00_01_00;

/// What the scripted user does when the key asks for a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Touches at once.
    Instant,
    /// Touches this long after the key started asking (KEEPALIVE UPNEEDED meanwhile).
    After(Duration),
    /// Refuses: OpenSK answers CTAP2_ERR_OPERATION_DENIED.
    Deny,
    /// Never touches: the key waits until OpenSK's own 30 s touch timeout (on its uptime
    /// clock, so `advance_uptime` shortens it) or a CTAPHID_CANCEL.
    Never,
}

/// How a virtual key attests new credentials.
#[derive(Debug, Clone, Default)]
pub enum VirtualAttestation {
    /// OpenSK's default: `packed` self attestation (signed with the credential's own
    /// key, no `x5c`).
    #[default]
    SelfAttestation,
    /// `packed` with `x5c`: a batch certificate from this CA (shared by every key with
    /// the same AAGUID made from the same CA object).
    Batch(Arc<AttestationCa>),
    /// Enterprise attestation (CTAP 2.1 §7.1): an individual certificate from this CA,
    /// released only after authenticatorConfig enableEnterpriseAttestation and only when
    /// the platform asks for it; ordinary requests get self attestation.
    Enterprise {
        /// Issues the key's individual attestation certificate.
        ca: Arc<AttestationCa>,
        /// `true`: platform-managed (any RP); `false`: vendor-facilitated (only `rp_ids`).
        platform_managed: bool,
        /// The RP IDs a vendor-facilitated key attests to.
        rp_ids: Vec<String>,
    },
}

/// How to build a virtual key.
#[derive(Debug, Clone)]
pub struct VirtualKeyConfig {
    /// AAGUID in getInfo and authData (default [`VIRTUAL_KEY_AAGUID`]).
    pub aaguid: [u8; 16],
    /// USB serial string; default: random, or the one kept in the state file.
    pub serial: Option<String>,
    /// Path number n in `virtual:<n>`; default: the next free number in this process.
    pub index: Option<usize>,
    /// The scripted user at power-up (default [`Touch::Instant`]).
    pub touch: Touch,
    /// Attestation (default: OpenSK's self attestation).
    pub attestation: VirtualAttestation,
    /// Discoverable credential slots (OpenSK default 150).
    pub max_resident_keys: usize,
    /// maxCredentialCountInList in getInfo (default 8, as a YubiKey 5; OpenSK's own
    /// default is "unlimited", which hides client bugs in excludeList batching).
    pub max_credential_count_in_list: Option<usize>,
    /// Minimum PIN length after a reset (default 4).
    pub min_pin_length: u8,
    /// maxMsgSize in getInfo (default 7609, OpenSK's maximum).
    pub max_msg_size: usize,
}

impl Default for VirtualKeyConfig {
    fn default() -> Self {
        VirtualKeyConfig {
            aaguid: VIRTUAL_KEY_AAGUID,
            serial: None,
            index: None,
            touch: Touch::Instant,
            attestation: VirtualAttestation::SelfAttestation,
            max_resident_keys: 150,
            max_credential_count_in_list: Some(8),
            min_pin_length: 4,
            max_msg_size: 7609,
        }
    }
}

/// Longest wait for the firmware to finish a power-up (normally well under 10 ms; the
/// bound only matters if the firmware thread is starved or has crashed).
const POWER_UP_WAIT: Duration = Duration::from_secs(2);

/// Process-wide source of `virtual:<n>` numbers for keys that do not choose one.
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// One virtual FIDO2 key. Cheap to clone (all clones are the same key); the firmware
/// thread stops when the last clone is dropped, and open handles then read `Removed`.
#[derive(Clone)]
pub struct VirtualKey {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    descriptor: KeyDescriptor,
    aaguid: [u8; 16],
    firmware: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.update(|s| s.shutdown = true);
        if let Some(thread) = shared::lock(&self.firmware).take() {
            // Joining makes a state file's lock free for the next key at once.
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for VirtualKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualKey").field("path", &self.inner.descriptor.path).field("plugged", &self.is_plugged()).finish()
    }
}

impl VirtualKey {
    /// A blank key in RAM, plugged in and powered up.
    ///
    /// Never panics: if the firmware cannot start (the OS refuses a thread, the
    /// attestation certificate cannot be made) the error is logged and every
    /// [`VirtualKey::open`] returns it; use [`VirtualKey::try_new`] to get it directly.
    pub fn new(config: VirtualKeyConfig) -> VirtualKey {
        match Self::try_new(config.clone()) {
            Ok(key) => key,
            Err(e) => {
                tracing::error!(error = %e, "virtual key cannot start");
                Self::dead(config, e.to_string())
            }
        }
    }

    /// A blank key in RAM, or the setup error.
    pub fn try_new(config: VirtualKeyConfig) -> Result<VirtualKey, VirtualKeyError> {
        Self::start(config, None, None)
    }

    /// A key whose storage lives in `path` (loaded now if it exists, rewritten after
    /// every change). The file stays locked for this key's lifetime, so a second process
    /// gets [`VirtualKeyError::StateInUse`] instead of corrupting it.
    pub fn with_state_file(config: VirtualKeyConfig, path: &Path) -> Result<VirtualKey, VirtualKeyError> {
        let (file, saved) = StateFile::open(path)?;
        let (serial, image) = match saved {
            Some(saved) => (Some(saved.serial), Some(saved.image)),
            None => (None, None),
        };
        let mut config = config;
        if config.serial.is_none() {
            config.serial = serial.filter(|s| !s.is_empty());
        }
        Self::start(config, Some(file), image)
    }

    fn start(config: VirtualKeyConfig, state_file: Option<StateFile>, image: Option<Vec<u8>>) -> Result<VirtualKey, VirtualKeyError> {
        let serial = config.serial.clone().unwrap_or_else(random_serial);
        let descriptor = descriptor_for(&config, &serial);
        let (customization, attestation) = firmware_settings(&config, &serial)?;
        let shared = Shared::new(config.touch);
        let firmware = Firmware {
            shared: Arc::clone(&shared),
            image: image.unwrap_or_else(flash::erased_image),
            customization,
            aaguid: config.aaguid,
            attestation,
            firmware_version: VIRTUAL_KEY_FIRMWARE_VERSION,
            serial,
            state_file,
        };
        let thread = std::thread::Builder::new()
            .name(format!("vkey-{}", descriptor.path))
            .spawn(move || firmware.run())
            .map_err(|e| VirtualKeyError::Spawn(e.to_string()))?;
        shared.wait_powered(POWER_UP_WAIT);
        Ok(VirtualKey {
            inner: Arc::new(Inner { shared, descriptor, aaguid: config.aaguid, firmware: Mutex::new(Some(thread)) }),
        })
    }

    fn dead(config: VirtualKeyConfig, why: String) -> VirtualKey {
        let serial = config.serial.clone().unwrap_or_else(random_serial);
        let shared = Shared::new(config.touch);
        shared.update(|s| s.crashed = Some(why));
        VirtualKey {
            inner: Arc::new(Inner {
                shared,
                descriptor: descriptor_for(&config, &serial),
                aaguid: config.aaguid,
                firmware: Mutex::new(None),
            }),
        }
    }

    /// A new handle (like opening the hidraw node). Fails with `Removed` while unplugged.
    pub fn open(&self) -> Result<Box<dyn ReportIo>, IoError> {
        Ok(Box::new(self.inner.shared.open()?))
    }

    /// How enumeration shows this key (path `virtual:<n>`, pid.codes ids, serial, and
    /// its current plug generation).
    pub fn descriptor(&self) -> KeyDescriptor {
        KeyDescriptor { plug: self.plug_generation(), ..self.inner.descriptor.clone() }
    }

    /// The descriptor if the key is plugged in now (one look at its state).
    pub(crate) fn plugged_descriptor(&self) -> Option<KeyDescriptor> {
        let (plugged, generation) = {
            let s = self.inner.shared.lock();
            (s.plugged, s.generation)
        };
        plugged.then(|| KeyDescriptor { plug: generation, ..self.inner.descriptor.clone() })
    }

    /// `virtual:<n>`.
    pub fn path(&self) -> &str {
        &self.inner.descriptor.path
    }

    /// The AAGUID this key reports.
    pub fn aaguid(&self) -> [u8; 16] {
        self.inner.aaguid
    }

    /// Script the user for the next touch requests (also changes a wait in progress).
    pub fn set_touch(&self, touch: Touch) {
        self.inner.shared.update(|s| s.touch = touch);
    }

    /// The current touch script.
    pub fn touch(&self) -> Touch {
        self.inner.shared.lock().touch
    }

    /// Pull the key out: every open handle's pending and future reads and writes return
    /// `IoError::Removed` at once, the key disappears from its hub, volatile state is lost.
    pub fn unplug(&self) {
        self.inner.shared.unplug();
    }

    /// Power cycle (unplug if needed, then plug in): storage is kept, volatile state is
    /// cleared, the power-up clock restarts (so the 10 s reset window opens again) and
    /// the key reappears in its hub. Handles opened before stay dead; open new ones.
    pub fn replug(&self) {
        self.inner.shared.unplug();
        self.inner.shared.plug();
        self.inner.shared.wait_powered(POWER_UP_WAIT);
    }

    /// Whether the key is plugged in.
    pub fn is_plugged(&self) -> bool {
        self.inner.shared.lock().plugged
    }

    /// A hung key accepts writes and never answers (reads time out).
    pub fn set_hung(&self, hung: bool) {
        self.inner.shared.update(|s| s.hung = hung);
    }

    /// Move the key's uptime clock forward (reset window, touch timeout, PIN token
    /// lifetime, CTAPHID timeouts all run on it).
    pub fn advance_uptime(&self, by: Duration) {
        self.inner.shared.advance_uptime(by);
    }

    /// Time since power-up as the key sees it (real time plus `advance_uptime`).
    pub fn uptime(&self) -> Duration {
        self.inner.shared.uptime()
    }

    /// Counters tests can assert on (touch requests, keepalives, …).
    pub fn counters(&self) -> VirtualKeyCounters {
        self.inner.shared.lock().counters
    }

    /// A number that changes at every plug and unplug (lets a watcher notice an instant
    /// replug that polling alone cannot see).
    pub(crate) fn plug_generation(&self) -> u64 {
        self.inner.shared.lock().generation
    }
}

fn random_serial() -> String {
    let mut bytes = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("KSV{}", hex::encode_upper(bytes))
}

fn descriptor_for(config: &VirtualKeyConfig, serial: &str) -> KeyDescriptor {
    let index = config.index.unwrap_or_else(|| NEXT_INDEX.fetch_add(1, Ordering::Relaxed));
    KeyDescriptor {
        backend: Backend::Virtual,
        path: format!("{VIRTUAL_PATH_PREFIX}{index}"),
        vendor_id: VIRTUAL_KEY_VENDOR_ID,
        product_id: VIRTUAL_KEY_PRODUCT_ID,
        manufacturer: Some(VIRTUAL_KEY_MANUFACTURER.to_string()),
        product: Some(VIRTUAL_KEY_PRODUCT.to_string()),
        serial: Some(serial.to_string()),
        plug: 0,
    }
}

fn firmware_settings(config: &VirtualKeyConfig, serial: &str) -> Result<(KeyCustomization, Option<Provisioned>), VirtualKeyError> {
    let mut customization = KeyCustomization {
        default_min_pin_length: config.min_pin_length.clamp(4, 63),
        enterprise_attestation_mode: None,
        enterprise_rp_ids: Vec::new(),
        max_msg_size: config.max_msg_size.clamp(1024, 7609),
        use_batch_attestation: false,
        max_credential_count_in_list: config.max_credential_count_in_list.map(|n| n.max(1)),
        // OpenSK's credential key range holds 300 entries.
        max_supported_resident_keys: config.max_resident_keys.clamp(1, 300),
    };
    let to_opensk = |issued: &IssuedAttestation| Attestation {
        wrapped_private_key: issued.private_scalar.to_vec(),
        certificate: issued.certificate_der().to_vec(),
    };
    let provisioned = match &config.attestation {
        VirtualAttestation::SelfAttestation => None,
        VirtualAttestation::Batch(ca) => {
            customization.use_batch_attestation = true;
            let issued = ca.batch_attestation(config.aaguid)?;
            Some(Provisioned { id: AttestationId::Batch, attestation: to_opensk(&issued) })
        }
        VirtualAttestation::Enterprise { ca, platform_managed, rp_ids } => {
            if !platform_managed && rp_ids.is_empty() {
                return Err(VirtualKeyError::Attestation(
                    "vendor-facilitated enterprise attestation needs at least one RP ID".into(),
                ));
            }
            customization.enterprise_attestation_mode = Some(if *platform_managed {
                EnterpriseAttestationMode::PlatformManaged
            } else {
                EnterpriseAttestationMode::VendorFacilitated
            });
            customization.enterprise_rp_ids = rp_ids.clone();
            let issued = ca.individual_attestation(config.aaguid, serial)?;
            Some(Provisioned { id: AttestationId::Enterprise, attestation: to_opensk(&issued) })
        }
    };
    Ok((customization, provisioned))
}
