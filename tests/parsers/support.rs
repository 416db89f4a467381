//! Shared strategies and the case budget.
#![allow(dead_code)]
use ciborium::Value;
use proptest::prelude::*;

/// The longest error a key's reply may produce: the decoders name what was wrong; they
/// do not dump what the key sent.
pub const KEY_ERROR_MAX_CHARS: usize = 400;

/// An error about untrusted input says something, briefly, with no control characters
/// (it may reach a terminal as it is).
pub fn check_error_text(e: &dyn std::fmt::Display, max_chars: usize) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(!text.trim().is_empty(), "an empty error");
    prop_assert!(text.chars().count() <= max_chars, "an error of {} characters: {}", text.chars().count(), keystation::text::cap(&text));
    prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "control characters in {:?}", keystation::text::cap(&text));
    Ok(())
}

/// Cases per property unless `PROPTEST_CASES` says otherwise: enough to find the easy
/// crashes in CI, cheap enough to run on every build.
pub fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A CBOR value of the kinds CTAP2 uses (no floats, whose NaN has no equality, and no
/// tags), nested a few levels.
pub fn cbor_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        "\\PC{0,20}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((map_key(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

/// Map keys as CTAP2 uses them: small integers and short texts.
pub fn map_key() -> impl Strategy<Value = Value> {
    prop_oneof![(-30i64..30).prop_map(|i| Value::Integer(i.into())), "[a-zA-Z]{1,12}".prop_map(Value::Text)]
}

/// Bytes that are mostly CBOR-shaped: valid encodings, then truncated, extended or with a
/// byte changed, so that the scanner's edges are reached more often than by noise.
pub fn cbor_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (cbor_value(), any::<prop::sample::Index>(), any::<u8>(), 0u8..4)
            .prop_map(|(v, at, byte, how)| damage(keystation::key::ctap2::cbor::to_canonical_vec(&v), at, byte, how)),
    ]
}

/// `b` cut short at `at` (`how` 0), with the byte there changed to `byte` (1), with
/// `byte` inserted there (2), or as it is (anything else).
pub fn damage(mut b: Vec<u8>, at: prop::sample::Index, byte: u8, how: u8) -> Vec<u8> {
    if !b.is_empty() {
        let i = at.index(b.len());
        match how {
            0 => b.truncate(i),
            1 => b[i] = byte,
            2 => b.insert(i, byte),
            _ => {}
        }
    }
    b
}
