//! FIDO2 provisioning: creation options (v1.0 and beta), registration with a real
//! (test-signed) attestation, list/get/delete, excludeCredentials in every encoding, and
//! the policy refusals.
use super::attest::{register, TEST_AAGUID};
use super::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keystation::entra::graph::{GraphErrorKind, PolicyState};
use keystation::entra::simulator::seed::PolicyState as SeedState;
use keystation::entra::simulator::ExcludeCredentialEncoding;

/// Carol's seeded key (base64url in the seed).
const CAROL_CREDENTIAL: &str = "zRh6eeqe16VPVj2Sl_ovO28Jg_7yi5AZJMqnr_LR8huRrqbuUw0Xrz7NtH7MY-aw";

#[tokio::test]
async fn v1_creation_options_have_entras_shape() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let o = graph.fido2_creation_options("carol@contoso.test", None).await.unwrap();
    let pk = &o.public_key;
    assert_eq!(pk.rp.id, "login.microsoft.com");
    assert_eq!(pk.user.name.as_deref(), Some("carol@contoso.test"));
    assert!(pk.challenge_bytes().unwrap().len() >= 1024, "Entra challenges are long opaque strings");
    assert!(!pk.user_handle().unwrap().is_empty());
    assert!(pk.accepts_alg(-7) && pk.accepts_alg(-257));
    let sel = pk.authenticator_selection.as_ref().unwrap();
    assert_eq!(sel.require_resident_key, Some(true));
    assert_eq!(sel.user_verification.as_deref(), Some("required"));
    assert_eq!(pk.attestation.as_deref(), Some("direct"));
    assert_eq!(pk.extensions["hmacCreateSecret"], true);
    let timeout = o.challenge_timeout_date_time.unwrap() - chrono::Utc::now();
    assert!(timeout <= chrono::Duration::minutes(5) && timeout > chrono::Duration::minutes(4), "{timeout}");
    let carol = URL_SAFE_NO_PAD.decode(CAROL_CREDENTIAL).unwrap();
    assert!(pk.exclude_credential_ids().unwrap().contains(&carol), "Carol's key is excluded");
}

#[tokio::test]
async fn beta_takes_a_challenge_timeout_in_function_form_and_v1_refuses_it_locally() {
    let sim = sim().await;
    let o = graph_app_beta(&sim).fido2_creation_options("alice@contoso.test", Some(60)).await.unwrap();
    let timeout = o.challenge_timeout_date_time.unwrap() - chrono::Utc::now();
    assert!(timeout > chrono::Duration::minutes(59) && timeout <= chrono::Duration::minutes(60), "{timeout}");
    let paths: Vec<String> = sim.requests(Some("/beta/")).into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p.ends_with("/fido2Methods/creationOptions(challengeTimeoutInMinutes=60)")), "{paths:?}");
    let before = sim.requests(None).len();
    let e = graph_app(&sim).fido2_creation_options("alice@contoso.test", Some(60)).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::InvalidInput);
    assert!(e.to_string().contains("beta"), "{e}");
    let e = graph_app_beta(&sim).fido2_creation_options("alice@contoso.test", Some(3)).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::InvalidInput);
    assert_eq!(sim.requests(None).len(), before, "refused before sending");
}

#[tokio::test]
async fn register_list_get_exclude_and_delete() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let options = graph.fido2_creation_options("alice@contoso.test", None).await.unwrap();
    let registration = register(&options.public_key, "Alice's test key");
    let method = graph.register_fido2_method("alice@contoso.test", &registration).await.unwrap();
    assert_eq!(method.aa_guid.as_deref(), Some(TEST_AAGUID));
    assert_eq!(method.display_name.as_deref(), Some("Alice's test key"));
    assert_eq!(method.model.as_deref(), Some("OpenSK authenticator"));
    // The body carried only the fields Graph accepts (the simulator rejects extras).
    let listed = graph.list_fido2_methods("alice@contoso.test").await.unwrap();
    assert!(listed.iter().any(|m| m.id == method.id), "{listed:?}");
    let got = graph.get_fido2_method("alice@contoso.test", &method.id).await.unwrap();
    assert_eq!(got.aa_guid, method.aa_guid);
    // The new credential is excluded from now on, whatever the encoding of its id.
    for encoding in [
        ExcludeCredentialEncoding::StandardBase64,
        ExcludeCredentialEncoding::Base64Url,
        ExcludeCredentialEncoding::Base64UrlPaddingDigit,
        ExcludeCredentialEncoding::Mixed,
    ] {
        sim.update_behaviour(|b| b.exclude_credentials_encoding = encoding);
        let again = graph.fido2_creation_options("alice@contoso.test", None).await.unwrap();
        let ids = again.public_key.exclude_credential_ids().unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
        assert!(ids.contains(&registration.credential_id), "{encoding:?}: {:?}", again.public_key.exclude_credentials);
    }
    // A used challenge cannot register again.
    let e = graph.register_fido2_method("alice@contoso.test", &registration).await.unwrap_err();
    assert!(matches!(e.kind, GraphErrorKind::ChallengeRejected | GraphErrorKind::CredentialAlreadyRegistered), "{e:?}");
    graph.delete_fido2_method("alice@contoso.test", &method.id).await.unwrap();
    assert!(!graph.list_fido2_methods("alice@contoso.test").await.unwrap().iter().any(|m| m.id == method.id));
    let e = graph.get_fido2_method("alice@contoso.test", &method.id).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::MethodNotFound, "{e:?}");
}

#[tokio::test]
async fn carols_seeded_key_decodes_in_every_encoding() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let carol = URL_SAFE_NO_PAD.decode(CAROL_CREDENTIAL).unwrap();
    for encoding in [ExcludeCredentialEncoding::StandardBase64, ExcludeCredentialEncoding::Base64Url, ExcludeCredentialEncoding::Base64UrlPaddingDigit] {
        sim.update_behaviour(|b| b.exclude_credentials_encoding = encoding);
        let o = graph.fido2_creation_options("carol@contoso.test", None).await.unwrap();
        let raw = &o.public_key.exclude_credentials[0].id;
        let decoded = keystation::entra::graph::decode_credential_id(raw).unwrap();
        assert_eq!(decoded.primary, carol, "{encoding:?}: {raw}");
    }
}

#[tokio::test]
async fn self_service_setup_off_is_named_with_the_known_issue() {
    let sim = sim_with(|c| c.tenant.policies.fido2.self_service_registration = false).await;
    let graph = graph_app(&sim);
    let policy = graph.fido2_policy().await.unwrap();
    assert_eq!(policy.is_self_service_registration_allowed, Some(false));
    assert_eq!(policy.provisioning_blockers().len(), 1);
    let e = graph.fido2_creation_options("alice@contoso.test", None).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::SelfServiceSetupOff, "{e:?}");
    assert!(e.hint().contains("Allow self-service set up"), "{}", e.hint());
    assert!(e.is_policy_refusal());
}

#[tokio::test]
async fn fido2_disabled_and_users_outside_the_policy() {
    let sim = sim_with(|c| c.tenant.policies.fido2.state = SeedState::Disabled).await;
    let graph = graph_app(&sim);
    assert_eq!(graph.fido2_policy().await.unwrap().state, PolicyState::Disabled);
    let e = graph.fido2_creation_options("alice@contoso.test", None).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::Fido2MethodDisabled, "{e:?}");
    let sim2 = super::common::sim().await;
    let graph = graph_app(&sim2);
    for user in ["oscar.outside@contoso.test", "bree.breakglass@contoso.test"] {
        let e = graph.fido2_creation_options(user, None).await.unwrap_err();
        assert_eq!(e.kind, GraphErrorKind::UserOutsidePolicy, "{user}: {e:?}");
        assert!(e.hint().contains("Passkey (FIDO2) policy"), "{}", e.hint());
    }
}

#[tokio::test]
async fn key_restrictions_and_attestation_enforcement_refuse_the_key() {
    let sim = sim_with(|c| {
        let kr = &mut c.tenant.policies.fido2.key_restrictions;
        kr.enforced = true;
        kr.enforcement = "allow".into();
        kr.aaguids = vec!["cb69481e-8ff7-4039-93ec-0a2729a154a8".into()];
    })
    .await;
    let graph = graph_app(&sim);
    let policy = graph.fido2_policy().await.unwrap();
    assert!(!policy.key_restrictions.as_ref().unwrap().allows(TEST_AAGUID), "the pre-check agrees with the service");
    let o = graph.fido2_creation_options("bob@contoso.test", None).await.unwrap();
    let e = graph.register_fido2_method("bob@contoso.test", &register(&o.public_key, "Bob's key")).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::KeyRestricted, "{e:?}");
    assert!(e.hint().contains("AAGUID"), "{}", e.hint());

    let sim = sim_with(|c| c.tenant.policies.fido2.attestation_enforced = true).await;
    let graph = graph_app(&sim);
    let o = graph.fido2_creation_options("bob@contoso.test", None).await.unwrap();
    let e = graph.register_fido2_method("bob@contoso.test", &register(&o.public_key, "Bob's key")).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::AttestationRefused, "{e:?}");
}

#[tokio::test]
async fn display_names_over_thirty_characters_are_refused_before_sending() {
    let sim = sim().await;
    let graph = graph_app(&sim);
    let o = graph.fido2_creation_options("bob@contoso.test", None).await.unwrap();
    let before = sim.requests(None).len();
    let e = graph.register_fido2_method("bob@contoso.test", &register(&o.public_key, &"k".repeat(31))).await.unwrap_err();
    assert_eq!(e.kind, GraphErrorKind::InvalidInput);
    assert_eq!(sim.requests(None).len(), before);
}
