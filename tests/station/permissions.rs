//! The permission check before the key: a station app that may read authentication
//! methods but not write them is refused at inspection, with the missing permission
//! named, and the key stays blank (before, it got a PIN nobody was given and the job
//! parked). The kiosk refuses at the user-name screen, before a key is plugged in.
use crate::common::*;
use keystation::entra::simulator::seed::{AppKind, AppSeed};
use keystation::key::virtual_key::VirtualHub;
use keystation::station::journal::{FailureKind, JobMode, Journal, SharedJournal};
use keystation::station::pipeline::{planned_calls, CancelToken, JobSpec, OutcomeClass, Station, StationSetup};
use keystation::station::state::JobState;
use std::sync::Arc;

const READ_ONLY_APP: &str = "4c0a7e2b-5d1f-4a3c-9e8b-6f2d1c0b9a87";
const READ_ONLY_SECRET: &str = "sim-readonly-secret-4c0a7e2b";

async fn read_only_desk() -> Desk {
    Desk::with(|c| {
        c.tenant.apps.push(AppSeed {
            client_id: READ_ONLY_APP.into(),
            name: "read-only station".into(),
            kind: AppKind::Confidential,
            secrets: vec![READ_ONLY_SECRET.into()],
            certificates: vec![],
            generate_test_certificate: false,
            delegated_scopes: vec![],
            application_roles: ["User.Read.All", "GroupMember.Read.All", "UserAuthenticationMethod.Read.All", "Policy.Read.AuthenticationMethod"]
                .map(String::from)
                .to_vec(),
        })
    })
    .await
}

async fn read_only_station(desk: &Desk, dir: &std::path::Path, hub: &VirtualHub, extra: &str) -> Arc<Station> {
    let config = desk.config(dir, extra);
    let journal = SharedJournal::new(Journal::open(journal_path(dir)).unwrap());
    let mut setup = StationSetup::new(config, dir, journal, desk.graph_as(READ_ONLY_APP, READ_ONLY_SECRET)).unwrap();
    setup.sources = Some(keystation::key::sources::KeySources::virtual_hub(hub.clone()));
    Arc::new(Station::open(setup).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_client_is_refused_before_the_key_with_the_permission_named() {
    let desk = read_only_desk().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = VirtualHub::new();
    let key = desk.key(0, "KSVPERM00001");
    hub.plug(key.clone());
    let station = read_only_station(&desk, dir.path(), &hub, "").await;
    let rec = Recorder::new();
    let handle = open_key(&hub, key.path(), rec.clone()).await;
    let out = station.provision(handle, JobSpec::new(JobMode::Batch, ALICE), rec, CancelToken::new()).await;

    assert_eq!(out.state, JobState::Failed, "{out:#?}");
    assert_eq!(out.class(), OutcomeClass::Entra);
    let e = out.error.as_ref().unwrap();
    assert_eq!(e.kind, FailureKind::Entra);
    assert!(e.message.contains("UserAuthMethod-Passkey.ReadWrite.All") && e.message.contains("register the FIDO2 security key"), "{}", e.message);
    assert!(e.message.contains("no key was touched"), "{}", e.message);
    assert!(e.next_step.as_deref().is_some_and(|n| n.contains("admin consent")), "{e:?}");
    assert!(e.station_wide, "a batch stops instead of failing every user");
    assert!(out.operator_reason.is_none(), "nothing to park: the key is blank");

    // The key is as it came and nothing reached Entra.
    let h = open_key(&hub, key.path(), Recorder::new()).await;
    assert!(!h.get_info().await.unwrap().pin_is_set(), "the key got a PIN");
    assert!(desk.methods(ALICE).await.is_empty());
    let j = Journal::open_existing(journal_path(dir.path())).unwrap();
    assert!(j.intents(out.job.unwrap()).unwrap().is_empty(), "no side effect was even intended");

    // The kiosk says so at the first screen, before a key is plugged in.
    let refused = station.check_user(ALICE, None).await.unwrap_err();
    assert!(refused.message.contains("UserAuthMethod-Passkey.ReadWrite.All"), "{}", refused.message);

    // The full station app passes the same check; so does the browser path's TAP need.
    let full = desk.station(dir.path(), desk.config(dir.path(), "[tap]\nhandover = true\n"), &hub, |_| {}).await;
    full.check_permissions(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_lists_the_calls_of_its_path() {
    let desk = Desk::new().await;
    let dir = tempfile::tempdir().unwrap();
    use keystation::entra::graph::Operation::*;
    let ops = |extra: &str, via| planned_calls(&desk.config(dir.path(), extra), via).into_iter().map(|c| c.operation).collect::<Vec<_>>();
    assert_eq!(ops("", None), [GetUser, ReadFido2Policy, ListFido2Methods, Fido2CreationOptions, RegisterFido2Method]);
    let browser = ops("", Some(keystation::ceremony::RegistrationPath::Browser));
    assert!(browser.contains(&CreateTap) && !browser.contains(&RegisterFido2Method), "{browser:?}");
    assert!(ops("[tap]\nhandover = true\n", None).contains(&CreateTap));
}
