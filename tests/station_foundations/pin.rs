//! PIN requirements, generation and desk validation through the public API.
use keystation::secret::SecretString;
use keystation::station::config::{ConfigLoader, ConfigOverrides};
use keystation::station::pin::{check_user_pin, generate, MinLengthSource, PinRejection, PinRequirements, TrivialReason};

#[test]
fn generated_pins_respect_key_and_tenant_minimums() {
    let o = ConfigOverrides { pin_length: Some(6), set: vec!["pin.alphabet=alphanumeric".into()], ..Default::default() };
    let cfg = ConfigLoader::new().overrides(o).load().unwrap().config;
    for (key_min, tenant_min, want) in [(4u8, None, 6usize), (8, None, 8), (4, Some(10u32), 10)] {
        let req = PinRequirements::new(&cfg.pin, key_min, tenant_min).unwrap();
        assert_eq!(req.generated_length, want);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let pin = generate(&req).unwrap();
            assert_eq!(pin.expose().chars().count(), want);
            assert!(pin.expose().chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
            assert!(!pin.expose().contains(['0', '1', 'O', 'I', 'L']));
            seen.insert(pin.expose().to_string());
        }
        assert!(seen.len() > 195, "random PINs repeat too often: {}", seen.len());
    }
}

#[test]
fn desk_pins_get_actionable_messages() {
    let cfg = ConfigLoader::new().load().unwrap().config; // digits, user minimum 6
    let req = PinRequirements::new(&cfg.pin, 8, None).unwrap();
    assert_eq!((req.min_length, req.min_length_source), (8, MinLengthSource::Key));
    let cases: &[(&str, PinRejection, &str)] = &[
        ("482913", PinRejection::TooShort { min: 8, because: MinLengthSource::Key }, "at least 8 characters (this key requires it)"),
        ("11111111", PinRejection::Trivial(TrivialReason::SameCharacter), "repeats one character"),
        ("23456789", PinRejection::Trivial(TrivialReason::Sequence), "sequence"),
        ("78907890", PinRejection::Trivial(TrivialReason::RepeatedPattern), "short pattern"),
        ("14071989", PinRejection::Trivial(TrivialReason::LooksLikeDate), "looks like a date"),
        ("4829 1735", PinRejection::NotAllowed(keystation::station::pin::CharProblem::SpaceOrControl), "space"),
        ("48291735x", PinRejection::NotAllowed(keystation::station::pin::CharProblem::NotADigit), "digits only"),
    ];
    for (pin, want, words) in cases {
        let got = check_user_pin(&SecretString::new(*pin), &req).unwrap_err();
        assert_eq!(&got, want, "{pin}");
        let msg = got.to_string();
        assert!(msg.contains(words), "{pin}: {msg}");
        assert!(!msg.contains(pin), "message repeats the PIN: {msg}");
    }
    assert!(check_user_pin(&SecretString::new("48291735"), &req).is_ok());
    let too_long = format!("{}{}", "7".repeat(30), "3".repeat(34));
    let alnum = ConfigLoader::new().overrides(ConfigOverrides { set: vec!["pin.alphabet=alphanumeric".into()], ..Default::default() }).load().unwrap().config;
    let req = PinRequirements::new(&alnum.pin, 4, None).unwrap();
    assert_eq!(check_user_pin(&SecretString::new(too_long), &req).unwrap_err(), PinRejection::TooLong { bytes: 64 });
}
