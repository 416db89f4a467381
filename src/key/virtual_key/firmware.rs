//! The firmware thread of one virtual key: OpenSK's `Ctap` fed one report at a time.
//!
//! A power cycle is modelled faithfully: on plug the thread builds a new `Ctap` from the
//! flash image (volatile state such as PIN tokens, the consecutive-wrong-PIN counter,
//! CTAPHID channels and the reset window starts afresh); on unplug the `Ctap` is dropped
//! and only the flash image survives.
use super::env::{KeyCustomization, KeyEnv};
use super::flash::{flash_from_image, StateFile};
use super::shared::Shared;
use super::Touch;
use opensk::api::persist::{Attestation, AttestationId, Persist};
use opensk::env::Env;
use opensk::{Ctap, Transport};
use std::sync::Arc;
use std::time::Instant;

/// The attestation material to have in storage at every power-up.
pub(crate) struct Provisioned {
    pub id: AttestationId,
    pub attestation: Attestation,
}

/// Everything the firmware needs besides the shared state.
pub(crate) struct Firmware {
    pub shared: Arc<Shared>,
    pub image: Vec<u8>,
    pub customization: KeyCustomization,
    pub aaguid: [u8; 16],
    pub attestation: Option<Provisioned>,
    pub firmware_version: u64,
    pub serial: String,
    pub state_file: Option<StateFile>,
}

struct Powered {
    generation: u64,
    ctap: Ctap<KeyEnv>,
    /// When a U2F (CTAP1) request waits for a scripted After(..) touch.
    u2f_touch_at: Option<Instant>,
}

enum Work {
    Shutdown,
    PowerDown,
    PowerUp(u64),
    Packet([u8; 64]),
    U2fTouch,
}

impl Firmware {
    /// Run until the key object is dropped. A panic inside OpenSK marks the key as
    /// crashed (reads then time out, like a dead device) instead of taking the process.
    pub fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.main_loop()));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%why, "virtual key firmware crashed");
            shared.update(|s| s.crashed = Some(why));
        }
    }

    fn main_loop(&mut self) {
        let mut powered: Option<Powered> = None;
        loop {
            match self.next_work(&powered) {
                Work::Shutdown => {
                    if let Some(p) = powered.take() {
                        self.power_down(p);
                    }
                    return;
                }
                Work::PowerDown => {
                    if let Some(p) = powered.take() {
                        self.power_down(p);
                    }
                }
                Work::PowerUp(generation) => {
                    if let Some(p) = powered.take() {
                        self.power_down(p);
                    }
                    match self.power_up(generation) {
                        Ok(p) => powered = Some(p),
                        Err(why) => {
                            tracing::error!(%why, "virtual key cannot power up");
                            self.shared.update(|s| s.crashed = Some(why));
                            return;
                        }
                    }
                }
                Work::Packet(packet) => {
                    if let Some(p) = powered.as_mut() {
                        self.process(p, &packet);
                    }
                }
                Work::U2fTouch => {
                    if let Some(p) = powered.as_mut() {
                        p.u2f_touch_at = None;
                        p.ctap.u2f_grant_user_presence();
                    }
                }
            }
        }
    }

    fn next_work(&self, powered: &Option<Powered>) -> Work {
        let mut s = self.shared.lock();
        loop {
            if s.shutdown {
                return Work::Shutdown;
            }
            match powered {
                Some(_) if !s.plugged => return Work::PowerDown,
                Some(p) if p.generation != s.generation => return Work::PowerUp(s.generation),
                None if s.plugged => return Work::PowerUp(s.generation),
                _ => {}
            }
            if s.plugged && !s.hung {
                if let Some(packet) = s.to_key.pop_front() {
                    return Work::Packet(packet);
                }
                if let Some(at) = powered.as_ref().and_then(|p| p.u2f_touch_at)
                    && Instant::now() >= at
                {
                    return Work::U2fTouch;
                }
            }
            let wake = powered.as_ref().and_then(|p| p.u2f_touch_at);
            s = self.shared.wait(s, wake);
        }
    }

    fn power_up(&mut self, generation: u64) -> Result<Powered, String> {
        let flash = flash_from_image(std::mem::take(&mut self.image));
        let mut env = KeyEnv::new(&self.shared, generation, flash, self.customization.clone(), self.firmware_version)?;
        self.provision(&mut env).map_err(|code| format!("cannot write the key's identity into its storage ({code:?})"))?;
        let ctap = Ctap::new(env);
        self.shared.update(|s| {
            s.counters.power_ups += 1;
            s.powered = generation;
        });
        let mut powered = Powered { generation, ctap, u2f_touch_at: None };
        self.save_if_dirty(&mut powered);
        tracing::debug!(serial = %self.serial, generation, "virtual key powered up");
        Ok(powered)
    }

    fn power_down(&mut self, mut p: Powered) {
        self.shared.update(|s| s.powered = 0);
        self.save_if_dirty(&mut p);
        self.image = p.ctap.env().flash_image();
    }

    /// Make the storage hold this key's AAGUID and attestation (a keystation run with
    /// other options may have left different ones in a state file).
    fn provision(&self, env: &mut KeyEnv) -> Result<(), opensk::ctap::status_code::Ctap2StatusCode> {
        let persist = env.persist();
        if persist.aaguid()? != self.aaguid {
            persist.set_aaguid(&self.aaguid)?;
        }
        let wanted = self.attestation.as_ref();
        for id in [AttestationId::Batch, AttestationId::Enterprise] {
            let stored = persist.get_attestation(id)?;
            let keep = matches!((&stored, wanted), (Some(have), Some(want)) if want.id == id && *have == want.attestation);
            if stored.is_some() && !keep {
                persist.set_attestation(id, None)?;
            }
        }
        if let Some(want) = wanted
            && persist.get_attestation(want.id)?.is_none()
        {
            persist.set_attestation(want.id, Some(&want.attestation))?;
        }
        Ok(())
    }

    fn process(&mut self, p: &mut Powered, packet: &[u8; 64]) {
        let replies: Vec<[u8; 64]> = p.ctap.process_hid_packet(packet, Transport::MainHid).collect();
        // Persist before answering: a CLI process may exit as soon as it has the answer.
        self.save_if_dirty(p);
        for reply in &replies {
            if !self.shared.deliver(p.generation, reply) {
                break;
            }
        }
        if p.ctap.u2f_needs_user_presence() && p.u2f_touch_at.is_none() {
            // CTAP1 asks differently: the request fails with "conditions not satisfied"
            // and the host retries; the firmware grants presence when the person touches.
            let touch = self.shared.lock().touch;
            match touch {
                Touch::Instant => p.ctap.u2f_grant_user_presence(),
                Touch::After(d) => p.u2f_touch_at = Some(Instant::now() + d),
                Touch::Deny | Touch::Never => {}
            }
        }
    }

    fn save_if_dirty(&self, p: &mut Powered) {
        if !p.ctap.env().take_dirty() {
            return;
        }
        if let Some(file) = &self.state_file
            && let Err(e) = file.save(&self.serial, &p.ctap.env().flash_image())
        {
            tracing::warn!(state = %file.path().display(), error = %e, "cannot save the virtual key's state");
        }
    }
}
