//! Figures for docs/virtual-key.md. Ignored by default (they print timings, they do not
//! judge them): `cargo test --test virtual_key -- --ignored --nocapture measure_`.
use crate::ctaphid::*;
use keystation::key::virtual_key::*;
use std::time::{Duration, Instant};

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let n = samples.len();
    format!("median {:?}, p95 {:?}, max {:?} over {n}", samples[n / 2], samples[n * 95 / 100], samples[n - 1])
}

#[test]
#[ignore = "measurement; run explicitly"]
fn measure_report_level_round_trips() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    let expected = ch.ctap_ok(CTAP_GET_INFO, None);
    let get_info: Vec<Duration> = (0..500)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(ch.ctap_ok(CTAP_GET_INFO, None), expected);
            t.elapsed()
        })
        .collect();
    println!("getInfo round trip: {}", summary(get_info));

    let make: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", false)));
            t.elapsed()
        })
        .collect();
    println!("makeCredential (ES256, no PIN, Touch::Instant): {}", summary(make));

    let new_key: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            let k = VirtualKey::new(VirtualKeyConfig::default());
            let d = t.elapsed();
            assert!(k.is_plugged());
            d
        })
        .collect();
    println!("VirtualKey::new (until powered up): {}", summary(new_key));

    let replug: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            key.replug();
            t.elapsed()
        })
        .collect();
    println!("replug (until powered up): {}", summary(replug));
}
