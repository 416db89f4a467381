//! arrived → inspected: getInfo, the user in Graph, the tenant's policies, the user's
//! methods, the key's capabilities, and every decision that can be made before the key
//! is touched (reset or not, PIN source, display name, registration path). Nothing is
//! written to the key or to Entra here: a refusal leaves the key exactly as it came.
use super::checks::{check_fido2, check_tap, target_group_ids};
use super::failure::{Failure, Stop};
use super::run::Run;
use super::spec::PinChoice;
use super::events::Step;
use crate::ceremony::RegistrationPath;
use crate::key::ctap2::AuthenticatorInfo;
use crate::station::config::{display_width, AttestationPreflight, DisplayNameInput, ResetPolicy, UnknownPinAction, DISPLAY_NAME_MAX};
use crate::station::state::JobState;
use crate::station::journal::{FailureKind, JobUpdate, KeyFacts, KeyQuery, OperatorReason, Transition, UserRef};
use crate::station::pin::{check_user_pin, PinRequirements, PinSource};
use super::spec::CurrentPinRequest;

// One spelling of firmware versions everywhere (keys info, journal, report, JSON).
pub(crate) use crate::key::ctap2::firmware_version_text as firmware_text;

/// The key facts the journal stores, from the handle's descriptor and getInfo.
pub(crate) fn key_facts(run: &mut Run<'_>, info: &AuthenticatorInfo) -> KeyFacts {
    let d = run.key.as_ref().map(|k| k.descriptor().clone());
    let zero = info.aaguid.iter().all(|b| *b == 0);
    let model = run.st.setup.models.lookup_bytes(&info.aaguid).cloned();
    let facts = KeyFacts {
        path: d.as_ref().map(|d| d.path.clone()),
        aaguid: (!zero).then(|| info.aaguid_string()),
        model: model.as_ref().map(|m| m.name.clone()).or_else(|| d.as_ref().and_then(|d| d.product.clone())),
        serial: d.as_ref().and_then(|d| d.serial.clone()).filter(|s| !s.trim().is_empty()),
        firmware: info.firmware_version.map(firmware_text),
    };
    run.out.key.path = facts.path.clone();
    run.out.key.aaguid = facts.aaguid.clone();
    run.out.key.model = facts.model.clone();
    run.out.key.vendor = model.as_ref().map(|m| m.vendor.clone());
    run.out.key.serial = facts.serial.clone();
    run.out.key.firmware = facts.firmware.clone();
    run.facts.model = model;
    facts
}

impl Run<'_> {
    pub(crate) async fn inspect(&mut self) -> Result<(), Stop> {
        let t = self.step_started(Step::Inspect);
        let r = self.inspect_inner().await;
        match &r {
            Ok(()) => self.step_finished(Step::Inspect, t),
            Err(s) => self.step_failed(Step::Inspect, t, s),
        }
        r
    }

    async fn inspect_inner(&mut self) -> Result<(), Stop> {
        let st = self.st;
        let cfg = &st.setup.config;
        let tenant = cfg.require_tenant().map_err(|m| Failure::new(FailureKind::Config, Step::Inspect, m))?.clone();
        let key = self.key()?;
        // Test keys never reach a real tenant, however the key got here.
        if key.descriptor().backend == crate::key::descriptor::Backend::Virtual {
            crate::station::lab::check_virtual_keys(cfg).map_err(|m| {
                let mut f = Failure::new(FailureKind::Config, Step::Inspect, format!("{m}; the key was not changed"));
                f.station_wide = true;
                f
            })?;
        }

        // The key.
        let info = self.key_op(Step::Inspect, key.get_info()).await?;
        let facts = key_facts(self, &info);
        let aaguid = facts.aaguid.clone().unwrap_or_else(|| info.aaguid_string());
        let model_name = facts.model.clone().unwrap_or_else(|| "unknown model".into());

        // The station's permissions for every call this job will make: a write permission
        // found missing only after the PIN is set would leave a key nobody can use.
        self.check_cancel(Step::Inspect)?;
        tokio::select! {
            r = st.check_permissions(self.spec.via) => r?,
            _ = self.cancel.cancelled() => return Err(Failure::cancelled(Step::Inspect).into()),
        }

        // The user.
        let user = self.graph_read(Step::Inspect, st.setup.graph.resolve_user(&self.spec.user)).await?;
        let upn = user.user_principal_name.clone().unwrap_or_else(|| self.spec.user.clone());
        self.out.user.upn = Some(upn.clone());
        self.out.user.object_id = Some(user.id.clone());
        self.out.user.display_name = user.display_name.clone();
        if user.is_guest() {
            return Err(Failure::policy(
                Step::Inspect,
                format!("{upn} is a guest (B2B) account; guests cannot register security keys in this tenant; the key was not changed"),
                "enroll the user in their home tenant",
            )
            .into());
        }
        if user.account_enabled == Some(false) {
            self.warn(format!("{upn}'s account is disabled: the key will be registered, but it cannot be used until the account is enabled"));
        }
        self.facts.user = Some(user.clone());

        // The path and the TAPs it needs.
        let path = self.spec.via.unwrap_or(tenant.registration);
        if let Some(missing) = st.setup.registrars.missing(path) {
            let mut f = Failure::new(FailureKind::Config, Step::Inspect, format!("{missing}; the key was not changed"));
            f.missing_component = path == RegistrationPath::Browser;
            return Err(f.next("install what is missing or run where it is (browser path: Debian chromium and chromium-driver; browser.mode = \"manual\": a desktop session), or register through Graph (--via graph / tenant.registration = \"graph\")").into());
        }
        self.facts.path = Some(path);
        self.out.registration_path = Some(path);

        // The tenant's policies.
        let fido2 = self.graph_read(Step::Inspect, st.fido2_policy()).await?;
        let tap_needed = path == RegistrationPath::Browser || cfg.tap.handover;
        let tap_policy = if tap_needed { Some(self.graph_read(Step::Inspect, st.tap_policy()).await?) } else { None };
        let mut groups = target_group_ids(&fido2.include_targets, &fido2.exclude_targets);
        if let Some(tp) = &tap_policy {
            for g in target_group_ids(&tp.include_targets, &tp.exclude_targets) {
                if !groups.iter().any(|x| x.eq_ignore_ascii_case(&g)) {
                    groups.push(g);
                }
            }
        }
        let mut member_of = if groups.is_empty() { Vec::new() } else { self.graph_read(Step::Inspect, st.setup.graph.check_member_groups(&user.id, &groups)).await? };
        member_of.push(user.id.clone());
        let verdict = check_fido2(&fido2, &upn, &member_of, &aaguid, &model_name)?;
        if verdict.attestation_enforced && (facts.aaguid.is_none() || self.facts.model.is_none()) {
            let text = format!(
                "the tenant enforces attestation and this key ({model_name}, AAGUID {aaguid}) is not in keystation's model table, so it may not be in the FIDO metadata service Entra trusts"
            );
            match cfg.preflight.attestation {
                AttestationPreflight::Refuse => {
                    return Err(Failure::policy(Step::Inspect, format!("{text}; the key was not changed"), "use a FIDO2-certified key model, or set preflight.attestation = \"warn\" to let Entra decide").into())
                }
                AttestationPreflight::Warn => self.warn(format!("{text}; if Entra refuses it, the job stops after the PIN is set")),
            }
        }
        if let Some(tp) = &tap_policy {
            if path == RegistrationPath::Browser {
                check_tap(tp, &upn, &member_of, cfg.tap.registration_lifetime_minutes, cfg.tap.one_time, "the Temporary Access Pass for the browser registration")?;
            }
            if cfg.tap.handover {
                check_tap(tp, &upn, &member_of, cfg.tap.lifetime_minutes, cfg.tap.one_time, "the handover Temporary Access Pass (tap.handover)")?;
            }
        }

        // The user's methods (display names, reconciliation, already-registered keys).
        let methods = self.graph_read(Step::Inspect, st.setup.graph.list_fido2_methods(&user.id)).await?;

        // The key's capabilities.
        if info.option("rk") != Some(true) {
            return Err(Failure::new(FailureKind::Key, Step::Inspect, format!("this key ({model_name}) cannot store discoverable credentials (passkeys), which Entra requires; the key was not changed"))
                .next("use a FIDO2 key with resident-key support")
                .into());
        }
        if info.option("clientPin").is_none() {
            return Err(Failure::new(FailureKind::Key, Step::Inspect, format!("this key ({model_name}) does not support a PIN, which Entra requires for user verification; the key was not changed"))
                .next("use a FIDO2 key with PIN support")
                .into());
        }
        for (ext, why) in [("hmac-secret", "offline Windows sign-in needs it"), ("credProtect", "Entra asks for it")] {
            if !info.supports_extension(ext) {
                self.warn(format!("this key does not support the {ext} extension ({why})"));
            }
        }
        let mut policy = cfg.pin.clone();
        if let Some(o) = &self.spec.pin_policy {
            policy.source = o.source.unwrap_or(policy.source);
            policy.length = o.length.unwrap_or(policy.length);
            policy.min_length = o.min_length.unwrap_or(policy.min_length);
            policy.alphabet = o.alphabet.unwrap_or(policy.alphabet);
        }
        let supports_config = info.option("authnrCfg") == Some(true) && info.option("setMinPINLength") == Some(true);
        if !supports_config && (policy.set_min_length_on_key.is_some() || policy.force_change) {
            self.warn("this key has no CTAP 2.1 authenticatorConfig: the minimum PIN length and the forced PIN change cannot be set on it");
        }
        let requirements = PinRequirements::new(&policy, info.min_pin_length, tenant.min_pin_length).map_err(|e| Failure::new(FailureKind::Config, Step::Inspect, e.to_string()))?;

        // Where the PIN comes from, decided (and a chosen PIN checked) before the key is touched.
        let source = match &self.spec.pin {
            PinChoice::Random => PinSource::Random,
            PinChoice::Chosen(_) | PinChoice::AskAtDesk | PinChoice::KeepCurrent => PinSource::UserAtDesk,
            PinChoice::Policy => policy.source,
        };
        if let PinChoice::Chosen(pin) = &self.spec.pin {
            check_user_pin(pin, &requirements).map_err(|r| Failure::new(FailureKind::UserInput, Step::Inspect, format!("the chosen PIN cannot be used: {r}; the key was not changed")))?;
        }
        let asks = matches!(self.spec.pin, PinChoice::AskAtDesk) || (matches!(self.spec.pin, PinChoice::Policy) && source == PinSource::UserAtDesk);
        if asks && self.spec.prompt.is_none() {
            return Err(Failure::new(FailureKind::Config, Step::Inspect, "the PIN is to be chosen by the user at the desk (pin.source = \"user-at-desk\"), but this mode cannot ask anyone; the key was not changed")
                .next("use pin.source = \"random\" for unattended modes, or run the enrollment at a desk")
                .into());
        }
        self.facts.pin_source = Some(source);
        self.out.pin_source = Some(source);

        // Reset, change, or keep.
        let keep = matches!(self.spec.pin, PinChoice::KeepCurrent);
        let mut current = self.spec.current_pin.clone();
        let pin_set = info.pin_is_set();
        let reset = !keep
            && match cfg.reset.policy {
                ResetPolicy::Always => true,
                ResetPolicy::IfPinSet => pin_set && current.is_none(),
                ResetPolicy::Never => false,
            };
        let mut park = None;
        if keep && current.is_none() {
            return Err(Failure::new(FailureKind::Internal, Step::Inspect, "keeping the key's PIN needs the current PIN").into());
        }
        if pin_set && !reset && current.is_none() {
            // The key has a PIN nobody here knows and the policy keeps keys as they are.
            if cfg.reset.if_pin_unknown == UnknownPinAction::Ask && let Some(prompt) = self.spec.prompt.clone() {
                let retries = self.key_op(Step::Inspect, key.pin_retries()).await.ok().map(|r| r.retries);
                let req = CurrentPinRequest {
                    user: upn.clone(),
                    key: key.descriptor().path.clone(),
                    retries_left: retries,
                    reason: "the key already has a PIN and the reset policy is \"never\": type the key's current PIN to keep the key (it will be changed)".into(),
                };
                current = prompt.current_pin(&req).await;
            }
            if current.is_none() {
                park = Some(OperatorReason::KeyHasUnknownPin);
            }
        }
        if reset {
            self.note(if pin_set { "the key already has a PIN: it will be reset (this erases every credential on it)" } else { "the key will be reset (reset.policy = \"always\")" });
        }

        // Already registered to this user by an earlier job?
        let query = KeyQuery { serial: facts.serial.clone(), aaguid: facts.aaguid.clone(), path: None };
        let earlier = if query.serial.is_some() {
            st.setup.journal.run(move |j| j.jobs_for_key(&query)).await?
        } else {
            Vec::new()
        };
        // Jobs that registered this key for this user and whose method Entra still lists:
        // finished ones, and parked ones an operator has not resolved yet.
        let live: Vec<(String, String, JobState)> = earlier
            .iter()
            .filter(|j| matches!(j.state, JobState::Done | JobState::NeedsOperator))
            .filter(|j| j.user.object_id.as_deref() == Some(user.id.as_str()) || j.user.upn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&upn)))
            .filter_map(|j| j.entra_method_id.clone().map(|m| (m, j.id.0.to_string(), j.state)))
            .filter(|(m, _, _)| methods.iter().any(|x| &x.id == m))
            .collect();
        if let Some((method, job, state)) = live.first() {
            // Enrolling it again would leave a dead registration behind (after a reset)
            // or make the key refuse (without one): the operator decides instead.
            let next = if *state == JobState::NeedsOperator {
                format!("job {job} needs an operator first (keystation jobs show {job} says what to do): resolve it, or delete method {method} in Entra and release it (keystation jobs retry {job}), then run the enrollment again")
            } else {
                "nothing to do; to enroll it again (e.g. a forgotten PIN), delete that method in Entra first, then run the enrollment again".to_string()
            };
            return Err(Failure::new(FailureKind::Key, Step::Inspect, format!("this key is already registered to {upn} (Entra method {method}, job {job}); nothing was changed"))
                .next(next)
                .into());
        }
        if info.remaining_discoverable_credentials == Some(0) && !reset {
            return Err(Failure::new(FailureKind::Key, Step::Inspect, "the key has no room for another passkey; the key was not changed").next("reset the key (reset.policy = \"if-pin-set\" or \"always\") or delete credentials with keystation keys credentials").into());
        }

        // The name in Entra, distinct among the user's methods.
        let taken = |n: &str| methods.iter().any(|m| m.display_name.as_deref() == Some(n));
        let display_name = match &self.spec.display_name {
            Some(fixed) => distinct_fixed_name(fixed, &taken).map_err(|m| Failure::new(FailureKind::UserInput, Step::Inspect, m))?,
            None => {
                let m = self.facts.model.clone();
                let input = DisplayNameInput {
                    model_name: m.as_ref().map(|m| m.name.clone()).or_else(|| facts.model.clone()),
                    model_short: m.as_ref().map(|m| m.short.clone()),
                    vendor: m.as_ref().map(|m| m.vendor.clone()),
                    serial: facts.serial.clone(),
                    aaguid: facts.aaguid.clone(),
                    upn: Some(upn.clone()),
                    date: Some(chrono::Utc::now().date_naive()),
                };
                cfg.display_name.template.render_distinct(&input, taken)
            }
        };

        self.facts.info = Some(info);
        self.facts.methods = methods;
        self.facts.pin_policy = policy;
        self.facts.requirements = Some(requirements);
        self.facts.reset = reset;
        self.facts.current_pin = current;
        self.facts.keep_pin = keep;
        self.facts.display_name = Some(display_name.clone());
        self.out.display_name = Some(display_name.clone());

        let update = JobUpdate {
            user: UserRef { upn: Some(upn), object_id: Some(user.id.clone()) },
            key: facts,
            display_name: Some(display_name),
            ..Default::default()
        };
        self.transition(Transition::to(JobState::Inspected).with_update(update)).await?;
        if let Some(reason) = park {
            return Err(Stop::Park(
                reason,
                Some(Failure::new(FailureKind::Key, Step::Inspect, "the key already has a PIN that nobody here knows, and reset.policy is \"never\"; the key was not changed")
                    .next("type the key's PIN (reset.if_pin_unknown = \"ask\"), reset it by hand (keystation keys reset), or allow resets (reset.policy = \"if-pin-set\")")),
            ));
        }
        Ok(())
    }
}

/// A fixed display name made distinct with " 2", " 3"… within 30 characters.
fn distinct_fixed_name(fixed: &str, taken: &dyn Fn(&str) -> bool) -> Result<String, String> {
    let name = fixed.trim();
    if name.is_empty() {
        return Err("the display name is empty".into());
    }
    if display_width(name) > DISPLAY_NAME_MAX {
        return Err(format!("the display name {name:?} is {} characters long; Entra allows at most {DISPLAY_NAME_MAX}", display_width(name)));
    }
    if !taken(name) {
        return Ok(name.to_string());
    }
    for n in 2..1000 {
        let suffix = format!(" {n}");
        let mut base: String = name.to_string();
        while display_width(&base) + display_width(&suffix) > DISPLAY_NAME_MAX {
            base.pop();
        }
        let candidate = format!("{}{suffix}", base.trim_end());
        if !taken(&candidate) {
            return Ok(candidate);
        }
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_versions_read_like_vendors_print_them() {
        assert_eq!(firmware_text(0x050704), "5.7.4");
        assert_eq!(firmware_text(0x000100), "0.1.0");
        assert_eq!(firmware_text(0x1_0000_0000), "0x100000000");
    }

    #[test]
    fn fixed_names_are_made_distinct_within_the_limit() {
        let taken = |n: &str| n == "Desk key" || n == "Desk key 2";
        assert_eq!(distinct_fixed_name("Desk key", &taken).unwrap(), "Desk key 3");
        let long = "x".repeat(30);
        let t2 = |n: &str| n == "x".repeat(30);
        assert_eq!(distinct_fixed_name(&long, &t2).unwrap(), format!("{} 2", "x".repeat(28)));
        assert!(distinct_fixed_name(&"y".repeat(31), &|_| false).is_err());
    }
}
