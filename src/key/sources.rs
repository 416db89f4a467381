//! Where keys come from: real HID keys, or the in-process virtual keys of a
//! [`VirtualHub`] (`--virtual N`, optionally with `--virtual-state DIR`).
use crate::key::descriptor::{Backend, KeyDescriptor};
use crate::key::error::KeyError;
use crate::key::hid;
use crate::key::report::ReportIo;
use crate::key::virtual_key::{AttestationCa, VirtualAttestation, VirtualKey, VirtualKeyConfig};
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::key::virtual_key::VirtualHub;

/// What the command line asks for (the CLI maps its global options onto this).
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// `--virtual N`: N in-process virtual keys instead of USB keys.
    pub virtual_keys: Option<usize>,
    /// `--virtual-state DIR`: keep virtual key `i`'s storage in `DIR/key-<i>.store`.
    pub virtual_state: Option<PathBuf>,
    /// Give virtual keys batch attestation from the CA kept in this directory (created
    /// on first use, shared with e.g. `keystation simulator`). `None`: self attestation.
    pub attestation_ca_dir: Option<PathBuf>,
}

/// The set of places keys are found. Cheap to clone; clones share the same hub.
#[derive(Debug, Clone)]
pub struct KeySources {
    hid: bool,
    hub: Option<VirtualHub>,
}

impl KeySources {
    /// Real keys only (hidapi).
    pub fn hid() -> KeySources {
        KeySources { hid: true, hub: None }
    }

    /// The virtual keys of `hub` only (tests, demo).
    pub fn virtual_hub(hub: VirtualHub) -> KeySources {
        KeySources { hid: false, hub: Some(hub) }
    }

    /// From the command line: `--virtual N` makes a hub with N keys at `virtual:0` …
    /// `virtual:N-1` (file-backed under `--virtual-state`); otherwise real keys.
    pub fn from_options(options: &SourceOptions) -> Result<KeySources, KeyError> {
        let Some(count) = options.virtual_keys else {
            if let Some(dir) = &options.virtual_state {
                return Err(KeyError::Transport(format!(
                    "--virtual-state {} only applies to virtual keys; add --virtual N",
                    dir.display()
                )));
            }
            return Ok(KeySources::hid());
        };
        let attestation = match &options.attestation_ca_dir {
            Some(dir) => VirtualAttestation::Batch(Arc::new(AttestationCa::load_or_create(dir)?)),
            None => VirtualAttestation::SelfAttestation,
        };
        let hub = VirtualHub::new();
        for index in 0..count {
            let config = VirtualKeyConfig { index: Some(index), attestation: attestation.clone(), ..Default::default() };
            let key = match &options.virtual_state {
                Some(dir) => VirtualKey::with_state_file(config, &dir.join(format!("key-{index}.store")))?,
                None => VirtualKey::try_new(config)?,
            };
            hub.plug(key);
        }
        Ok(KeySources::virtual_hub(hub))
    }

    /// The virtual hub, when these sources are virtual.
    pub fn hub(&self) -> Option<&VirtualHub> {
        self.hub.as_ref()
    }

    /// Every FIDO key present now. No key is an empty list, not an error. Each
    /// descriptor names one plug-in ([`KeyDescriptor::plug`]).
    pub fn enumerate(&self) -> Result<Vec<KeyDescriptor>, KeyError> {
        let mut keys = Vec::new();
        if let Some(hub) = &self.hub {
            keys.extend(hub.enumerate());
        }
        if self.hid {
            keys.extend(hid::enumerate()?);
        }
        Ok(keys)
    }

    /// Open a key for reports.
    pub fn open(&self, key: &KeyDescriptor) -> Result<Box<dyn ReportIo>, KeyError> {
        match key.backend {
            Backend::Virtual => {
                let hub = self.hub.as_ref().ok_or_else(|| {
                    KeyError::Transport(format!("{} is a virtual key, but virtual keys are not enabled (use --virtual N)", key.path))
                })?;
                let virtual_key = hub.get(&key.path).ok_or(KeyError::Removed)?;
                Ok(virtual_key.open()?)
            }
            Backend::Hid if self.hid => Ok(Box::new(hid::open(&key.path)?)),
            Backend::Hid => Err(KeyError::Transport(format!(
                "{} is a USB key, but this run uses virtual keys only; drop --virtual to use USB keys",
                key.path
            ))),
        }
    }
}
