//! CBOR for CTAP2: canonical encoding, typed look-ups in decoded maps, and a byte-span
//! scanner so that parts of a reply (attStmt, COSE keys, extensions) can be kept
//! verbatim instead of being re-encoded.
//!
//! CTAP2 requires "CTAP2 canonical CBOR" (CTAP 2.1 §8): definite lengths, minimal
//! integer/length headers, and map keys sorted by the length of their encoding first,
//! then bytewise. `ciborium` already emits definite, minimal headers; [`canonicalize`]
//! does the key ordering, recursively.
use crate::key::KeyError;
use ciborium::Value;

/// Shorthand for an integer CBOR value.
pub fn int(v: i64) -> Value {
    Value::Integer(v.into())
}

/// Shorthand for a text CBOR value.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// Shorthand for a byte-string CBOR value.
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A CBOR map with integer keys, built from (key, value) pairs; `None` values are left out.
pub fn int_map(entries: Vec<(i64, Option<Value>)>) -> Value {
    Value::Map(entries.into_iter().filter_map(|(k, v)| v.map(|v| (int(k), v))).collect())
}

/// Encode `value` without canonicalising it (callers canonicalise first).
fn encode_raw(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail and every `Value` is serialisable.
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding into a Vec cannot fail");
    out
}

/// Sort every map's entries in CTAP2 canonical order, recursively.
pub fn canonicalize(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(canonicalize),
        Value::Tag(_, inner) => canonicalize(inner),
        Value::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                canonicalize(k);
                canonicalize(v);
            }
            entries.sort_by_cached_key(|(k, _)| {
                let encoded = encode_raw(k);
                (encoded.len(), encoded)
            });
        }
        _ => {}
    }
}

/// Encode `value` as CTAP2 canonical CBOR.
pub fn to_canonical_vec(value: &Value) -> Vec<u8> {
    let mut v = value.clone();
    canonicalize(&mut v);
    encode_raw(&v)
}

/// Decode one CBOR item that must fill `data` exactly.
pub fn decode(data: &[u8]) -> Result<Value, KeyError> {
    let end = item_end(data, 0)?;
    if end != data.len() {
        return Err(KeyError::Protocol(format!("{} trailing byte(s) after the CBOR reply", data.len() - end)));
    }
    ciborium::de::from_reader(data).map_err(|e| KeyError::Protocol(format!("invalid CBOR: {e}")))
}

/// Read the argument of a CBOR head at `pos`: (major type, argument, header length).
/// Indefinite lengths are refused: CTAP2 canonical CBOR never uses them.
fn head(data: &[u8], pos: usize) -> Result<(u8, u64, usize), KeyError> {
    let short = || KeyError::Protocol("truncated CBOR".into());
    let first = *data.get(pos).ok_or_else(short)?;
    let major = first >> 5;
    let info = first & 0x1f;
    let (arg, len) = match info {
        0..=23 => (u64::from(info), 1),
        24..=27 => {
            let n = 1usize << (info - 24);
            let b = data.get(pos + 1..pos + 1 + n).ok_or_else(short)?;
            (b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)), 1 + n)
        }
        _ => return Err(KeyError::Protocol(format!("unsupported CBOR header byte 0x{first:02x} (indefinite or reserved length)"))),
    };
    Ok((major, arg, len))
}

/// The offset just past the CBOR item that starts at `pos`.
pub fn item_end(data: &[u8], pos: usize) -> Result<usize, KeyError> {
    item_end_depth(data, pos, 0)
}

fn item_end_depth(data: &[u8], pos: usize, depth: usize) -> Result<usize, KeyError> {
    // Replies are small; a deep nest means garbage, not a legitimate key answer.
    if depth > 32 {
        return Err(KeyError::Protocol("CBOR nested too deeply".into()));
    }
    let (major, arg, hlen) = head(data, pos)?;
    let mut p = pos + hlen;
    let too_long = || KeyError::Protocol("CBOR length runs past the end of the reply".into());
    match major {
        0 | 1 | 7 => {
            // Integers and simple values/floats: the argument bytes are the whole item.
        }
        2 | 3 => {
            let n = usize::try_from(arg).map_err(|_| too_long())?;
            p = p.checked_add(n).ok_or_else(too_long)?;
        }
        4 | 5 => {
            let n = arg.checked_mul(if major == 5 { 2 } else { 1 }).ok_or_else(too_long)?;
            if n > data.len() as u64 {
                return Err(too_long());
            }
            for _ in 0..n {
                p = item_end_depth(data, p, depth + 1)?;
            }
        }
        6 => p = item_end_depth(data, p, depth + 1)?,
        _ => unreachable!("major type is three bits"),
    }
    if p > data.len() {
        return Err(too_long());
    }
    Ok(p)
}

/// The byte spans of the values in a top-level CBOR map with integer keys:
/// (key, start, end) for each entry, in the order the key sent them.
pub fn int_map_value_spans(data: &[u8]) -> Result<Vec<(i64, usize, usize)>, KeyError> {
    let (major, count, hlen) = head(data, 0)?;
    if major != 5 {
        return Err(KeyError::Protocol("expected a CBOR map".into()));
    }
    let mut spans = Vec::new();
    let mut p = hlen;
    for _ in 0..count {
        let key_end = item_end(data, p)?;
        let key = match head(data, p)? {
            (0, v, _) => i64::try_from(v).ok(),
            (1, v, _) => i64::try_from(v).ok().map(|v| -1 - v),
            _ => None,
        };
        let value_end = item_end(data, key_end)?;
        if let Some(key) = key {
            spans.push((key, key_end, value_end));
        }
        p = value_end;
    }
    Ok(spans)
}

/// A decoded CBOR map with typed, error-reporting accessors. `what` names the reply in
/// error messages ("getInfo", "clientPIN").
pub struct MapView<'a> {
    entries: &'a [(Value, Value)],
    what: &'static str,
}

impl<'a> MapView<'a> {
    /// View `value` as a map, or explain what arrived instead.
    pub fn new(value: &'a Value, what: &'static str) -> Result<MapView<'a>, KeyError> {
        match value {
            Value::Map(entries) => Ok(MapView { entries, what }),
            _ => Err(KeyError::Protocol(format!("{what}: expected a CBOR map"))),
        }
    }

    /// The value under an integer key.
    pub fn get(&self, key: i64) -> Option<&'a Value> {
        self.entries.iter().find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key)).map(|(_, v)| v)
    }

    /// The value under a text key.
    pub fn get_text(&self, key: &str) -> Option<&'a Value> {
        self.entries.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
    }

    /// All entries, for maps keyed by text (options, certifications).
    pub fn entries(&self) -> &'a [(Value, Value)] {
        self.entries
    }

    fn bad(&self, key: i64, expected: &str) -> KeyError {
        KeyError::Protocol(format!("{}: field 0x{key:02x} is not {expected}", self.what))
    }

    /// A required field.
    pub fn required(&self, key: i64) -> Result<&'a Value, KeyError> {
        self.get(key).ok_or_else(|| KeyError::Protocol(format!("{}: required field 0x{key:02x} is missing", self.what)))
    }

    /// An optional unsigned integer field.
    pub fn opt_u64(&self, key: i64) -> Result<Option<u64>, KeyError> {
        self.get(key).map(|v| as_u64(v).ok_or_else(|| self.bad(key, "an unsigned integer"))).transpose()
    }

    /// An optional unsigned integer field that must fit 32 bits.
    pub fn opt_u32(&self, key: i64) -> Result<Option<u32>, KeyError> {
        self.opt_u64(key)?.map(|v| u32::try_from(v).map_err(|_| self.bad(key, "a 32-bit integer"))).transpose()
    }

    /// An optional byte-string field.
    pub fn opt_bytes(&self, key: i64) -> Result<Option<&'a [u8]>, KeyError> {
        self.get(key).map(|v| v.as_bytes().map(Vec::as_slice).ok_or_else(|| self.bad(key, "a byte string"))).transpose()
    }

    /// An optional text field.
    pub fn opt_text(&self, key: i64) -> Result<Option<&'a str>, KeyError> {
        self.get(key).map(|v| v.as_text().ok_or_else(|| self.bad(key, "a text string"))).transpose()
    }

    /// An optional boolean field.
    pub fn opt_bool(&self, key: i64) -> Result<Option<bool>, KeyError> {
        self.get(key).map(|v| v.as_bool().ok_or_else(|| self.bad(key, "a boolean"))).transpose()
    }

    /// An optional array field.
    pub fn opt_array(&self, key: i64) -> Result<Option<&'a [Value]>, KeyError> {
        self.get(key).map(|v| v.as_array().map(Vec::as_slice).ok_or_else(|| self.bad(key, "an array"))).transpose()
    }

    /// An optional array of text strings.
    pub fn opt_text_array(&self, key: i64) -> Result<Vec<String>, KeyError> {
        match self.opt_array(key)? {
            None => Ok(Vec::new()),
            Some(items) => items.iter().map(|v| v.as_text().map(str::to_string).ok_or_else(|| self.bad(key, "an array of text strings"))).collect(),
        }
    }
}

/// A non-negative CBOR integer as u64.
pub fn as_u64(v: &Value) -> Option<u64> {
    v.as_integer().and_then(|i| u64::try_from(i).ok())
}

/// A CBOR integer as i64.
pub fn as_i64(v: &Value) -> Option<i64> {
    v.as_integer().and_then(|i| i64::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_is_length_first_then_bytewise() {
        // Keys as a careless encoder might emit them.
        let v = Value::Map(vec![
            (text("up"), Value::Bool(true)),
            (int(-1), int(1)),
            (int(24), int(2)), // 0x18 0x18: two bytes
            (text("rk"), Value::Bool(true)),
            (int(3), int(3)),
            (text("a"), int(4)),
            (int(1), int(5)),
        ]);
        let enc = to_canonical_vec(&v);
        // 1 (0x01), 3 (0x03), -1 (0x20), 24 (0x18 18), "a" (0x61 61), "rk" (0x62 ..), "up" (0x62 ..)
        let expected: Vec<u8> = vec![
            0xa7, 0x01, 0x05, 0x03, 0x03, 0x20, 0x01, 0x18, 0x18, 0x02, 0x61, b'a', 0x04, 0x62, b'r', b'k', 0xf5, 0x62, b'u', b'p', 0xf5,
        ];
        assert_eq!(enc, expected);
    }

    #[test]
    fn nested_maps_are_sorted_too() {
        let v = Value::Map(vec![(int(7), Value::Map(vec![(text("uv"), Value::Bool(false)), (text("rk"), Value::Bool(true))]))]);
        assert_eq!(to_canonical_vec(&v), vec![0xa1, 0x07, 0xa2, 0x62, b'r', b'k', 0xf5, 0x62, b'u', b'v', 0xf4]);
    }

    #[test]
    fn integers_use_minimal_headers() {
        assert_eq!(to_canonical_vec(&int(23)), vec![0x17]);
        assert_eq!(to_canonical_vec(&int(24)), vec![0x18, 0x18]);
        assert_eq!(to_canonical_vec(&int(-257)), vec![0x39, 0x01, 0x00]);
        assert_eq!(to_canonical_vec(&int(65536)), vec![0x1a, 0x00, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn spans_cover_nested_items_exactly() {
        // {1: "packed", 2: h'0102', 3: {"alg": -7, "sig": h'aa'}}
        let v = Value::Map(vec![
            (int(1), text("packed")),
            (int(2), bytes(&[1, 2])),
            (int(3), Value::Map(vec![(text("alg"), int(-7)), (text("sig"), bytes(&[0xaa]))])),
        ]);
        let enc = to_canonical_vec(&v);
        let spans = int_map_value_spans(&enc).unwrap();
        assert_eq!(spans.len(), 3);
        let (k, s, e) = spans[2];
        assert_eq!(k, 3);
        assert_eq!(e, enc.len());
        let att = decode(&enc[s..e]).unwrap();
        assert_eq!(att, Value::Map(vec![(text("alg"), int(-7)), (text("sig"), bytes(&[0xaa]))]));
    }

    #[test]
    fn truncated_and_indefinite_items_are_errors() {
        assert!(item_end(&[0x42, 0x01], 0).is_err());
        assert!(item_end(&[0x5f, 0x41, 0x00, 0xff], 0).is_err());
        assert!(item_end(&[0xa1, 0x01], 0).is_err());
        assert!(decode(&[0x01, 0x02]).is_err());
        // A count that claims far more items than there are bytes must not loop for long.
        assert!(item_end(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0).is_err());
    }

    #[test]
    fn large_byte_strings_round_trip() {
        let big = vec![0x5a; 5000];
        let enc = to_canonical_vec(&bytes(&big));
        assert_eq!(decode(&enc).unwrap(), Value::Bytes(big));
    }
}
