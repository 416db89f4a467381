//! The CTAP2 CBOR decoder and the canonical byte-span scanner.
use super::support::{cases, cbor_ish_bytes, cbor_value};
use keystation::key::ctap2::cbor::{canonicalize, decode, int_map_value_spans, item_end, to_canonical_vec, MapView};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cases(256))]

    /// Canonical encoding round-trips: the scanner finds exactly its end, the decoder
    /// gives the (canonically ordered) value back, and encoding that again gives the same
    /// bytes.
    #[test]
    fn canonical_cbor_round_trips(value in cbor_value()) {
        let bytes = to_canonical_vec(&value);
        prop_assert_eq!(item_end(&bytes, 0).unwrap(), bytes.len());
        let decoded = decode(&bytes).unwrap();
        let mut ordered = value.clone();
        canonicalize(&mut ordered);
        prop_assert_eq!(&decoded, &ordered);
        prop_assert_eq!(to_canonical_vec(&decoded), bytes);
    }

    /// The spans of a top-level integer-keyed map are exactly its values' encodings.
    #[test]
    fn map_value_spans_are_the_values(entries in proptest::collection::btree_map(-20i64..20, cbor_value(), 0..8)) {
        let map = ciborium::Value::Map(entries.iter().map(|(k, v)| (ciborium::Value::Integer((*k).into()), v.clone())).collect());
        let bytes = to_canonical_vec(&map);
        let spans = int_map_value_spans(&bytes).unwrap();
        prop_assert_eq!(spans.len(), entries.len());
        let decoded = decode(&bytes).unwrap();
        let view = MapView::new(&decoded, "test").unwrap();
        for (key, start, end) in spans {
            let value = view.get(key).expect("the key is in the map");
            prop_assert_eq!(decode(&bytes[start..end]).unwrap(), value.clone());
        }
    }

    /// Anything at all: the scanner and the decoder answer, never panic, and agree on
    /// what is one whole item.
    #[test]
    fn arbitrary_bytes_never_break_the_decoder(bytes in cbor_ish_bytes()) {
        let end = item_end(&bytes, 0);
        let decoded = decode(&bytes);
        if decoded.is_ok() {
            prop_assert_eq!(end.unwrap(), bytes.len());
        }
        let _ = int_map_value_spans(&bytes);
        if let Ok(value) = &decoded
            && let Ok(view) = MapView::new(value, "test")
        {
            for k in -3..25 {
                let _ = (view.opt_u64(k), view.opt_u32(k), view.opt_bytes(k), view.opt_text(k), view.opt_bool(k), view.opt_array(k), view.opt_text_array(k));
            }
        }
    }
}
