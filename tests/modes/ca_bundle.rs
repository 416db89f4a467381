//! One connection builder for every command: behind a TLS-inspecting proxy (here a TLS
//! front for the simulator whose certificate comes from a private CA), `batch` and
//! `kiosk` reach the tenant when the CA is given with `--ca-bundle` or in `[network]`,
//! and say what is wrong when it is not.
use super::cli::{stderr, stdout, CliWorld};
use crate::tls_front::TlsFront;

/// A world whose configuration reaches the simulator only through the TLS front.
async fn behind_inspection(users: usize, extra: &str) -> (CliWorld, TlsFront, std::path::PathBuf) {
    let cw = CliWorld::new(users, "").await;
    let front = TlsFront::start(cw.world.tenant.sim.addr()).await;
    let plain = cw.world.tenant.sim.authority_host().to_string();
    let text = std::fs::read_to_string(&cw.config).unwrap().replace(plain.trim_end_matches('/'), &front.url);
    assert!(text.contains(&front.url), "{text}");
    std::fs::write(&cw.config, format!("{text}\n{extra}")).unwrap();
    let ca = cw.world.state_dir().join("inspection-ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    (cw, front, ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reaches_the_tenant_through_a_private_ca_only_with_the_bundle() {
    let (cw, _front, ca) = behind_inspection(2, "").await;
    let users = cw.world.fresh_users();
    let file = cw.world.batch_file("users.csv", &super::common::csv(&users));

    let without = cw.run(2, &["batch", file.to_str().unwrap()], "").await;
    let text = format!("{}{}", stdout(&without), stderr(&without));
    assert_ne!(without.status.code(), Some(0), "{text}");
    assert!(text.contains("certificate") || text.contains("CA bundle"), "the failure names TLS trust:\n{text}");
    for u in &users {
        assert!(cw.world.sim_methods(u).await.is_empty(), "nothing registered without the CA");
    }

    let with = cw.run(2, &["batch", "--ca-bundle", ca.to_str().unwrap(), file.to_str().unwrap()], "").await;
    assert_eq!(with.status.code(), Some(0), "{}\n{}", stdout(&with), stderr(&with));
    for u in &users {
        assert_eq!(cw.world.sim_methods(u).await.len(), 1, "{u}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosk_takes_the_ca_bundle_from_the_network_settings() {
    let (cw, _front, ca) = behind_inspection(1, "").await;
    let user = cw.world.fresh_users()[0].clone();
    // In the configuration file this time, relative to the file.
    let text = std::fs::read_to_string(&cw.config).unwrap();
    std::fs::write(&cw.config, format!("{text}\n[network]\nca_bundle = \"{}\"\n", ca.file_name().unwrap().to_str().unwrap())).unwrap();
    let out = cw.run(1, &["kiosk"], &format!("{user}\nquit\n")).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("1 key(s) ready"), "{text}");
    assert_eq!(cw.world.sim_methods(&user).await.len(), 1);
}
