//! What an operator hands in: batch CSV files and the configuration (file, environment,
//! `--set`), and the display-name template inside it.
use super::support::{cases, check_error_text};
use chrono::NaiveDate;
use keystation::station::batch::parse_batch;
use keystation::station::config::{env_var_for, ConfigLoader, ConfigOverrides, DisplayNameInput, DisplayNameTemplate, SETTABLE_KEYS};
use proptest::prelude::*;
use std::path::Path;

/// A message about a bad row quotes the cell at most this long (capped echo) plus the
/// sentence around it.
const MESSAGE_MAX: usize = 1200;

/// A configuration error: what is wrong and where, with the line it is on.
const CONFIG_ERROR_MAX_CHARS: usize = 1500;

/// One good batch row: a UPN, maybe a key name and a PIN length.
fn good_row() -> impl Strategy<Value = (String, Option<String>, Option<u32>)> {
    (
        "[a-z][a-z0-9._'-]{0,15}",
        "[a-z][a-z0-9-]{0,10}\\.(test|com|co\\.uk)",
        // Key names with the characters CSV must quote: commas, semicolons, quotes, tabs inside.
        proptest::option::of("[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9 ,;\"'.()-]{0,18}[A-Za-z0-9)]"),
        proptest::option::of(4u32..=63),
    )
        .prop_map(|(local, domain, name, pin)| (format!("{local}@{domain}"), name, pin))
}

/// Bytes that are mostly CSV: rows of cells of any text, any separator, quotes, comments.
fn csv_ish() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof!["\\PC{0,30}", "[a-z.]{1,10}@[a-z]{1,8}\\.test", Just("\"".to_string()), Just("#".to_string()), "[0-9]{1,3}"];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        (
            proptest::sample::select(vec![",", ";", "\t"]),
            proptest::collection::vec(proptest::collection::vec(cell, 0..6), 0..12),
            any::<bool>(),
        )
            .prop_map(|(sep, rows, header)| {
                let mut text = if header { format!("upn{sep}display_name{sep}pin_length{sep}pin_alphabet{sep}pin_policy\n") } else { String::new() };
                for row in rows {
                    text.push_str(&row.join(sep));
                    text.push(if text.len() % 3 == 0 { '\r' } else { '\n' });
                }
                text.into_bytes()
            }),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    /// A file written by a spreadsheet (any of the three separators, quoted where needed,
    /// maybe with Excel's byte-order mark) reads back as exactly its rows.
    #[test]
    fn batch_rows_round_trip(rows in proptest::collection::vec(good_row(), 1..15), sep in proptest::sample::select(vec![b',', b';', b'\t']), bom in any::<bool>()) {
        // One row per user: a batch refuses a user twice (case-insensitively).
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<_> = rows.into_iter().filter(|(upn, _, _)| seen.insert(upn.to_lowercase())).collect();
        let mut w = csv::WriterBuilder::new().delimiter(sep).from_writer(Vec::new());
        w.write_record(["upn", "display_name", "pin_length"]).unwrap();
        for (upn, name, pin) in &rows {
            w.write_record([upn.clone(), name.clone().unwrap_or_default(), pin.map(|p| p.to_string()).unwrap_or_default()]).unwrap();
        }
        let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        bytes.extend(w.into_inner().unwrap());
        let file = parse_batch(Path::new("users.csv"), &bytes).unwrap();
        prop_assert!(file.problems.is_empty(), "{:?}", file.problems);
        let back: Vec<_> = file.rows.iter().map(|r| (r.upn.clone(), r.display_name.clone(), r.pin.length)).collect();
        prop_assert_eq!(back, rows);
        for (i, r) in file.rows.iter().enumerate() {
            prop_assert_eq!(r.line, i as u64 + 2, "lines are counted as an editor counts them");
        }
    }

    /// Anything at all: a file or a clear error, never a panic; each bad row's message
    /// and echoed cell stay short whatever the row held.
    #[test]
    fn any_batch_file_is_read_or_refused(bytes in csv_ish(), long in proptest::option::of(1000usize..20000)) {
        let mut bytes = bytes;
        if let Some(n) = long {
            bytes.extend(format!("{}@x,{}\n", "a".repeat(n), "b".repeat(n)).into_bytes());
        }
        match parse_batch(Path::new("users.csv"), &bytes) {
            Ok(file) => {
                for p in &file.problems {
                    prop_assert!(p.message.len() < MESSAGE_MAX, "line {}: {} bytes", p.line, p.message.len());
                    prop_assert!(p.upn.as_ref().is_none_or(|u| u.len() < MESSAGE_MAX), "line {}", p.line);
                }
                for w in &file.warnings {
                    prop_assert!(w.len() < 4 * MESSAGE_MAX, "{}", w.len());
                }
            }
            Err(e) => check_error_text(&e, 2 * MESSAGE_MAX)?,
        }
    }
}

/// Section and key names of the configuration file, so generated files reach the real
/// sections with values of the wrong kinds.
fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(SETTABLE_KEYS.iter().map(|k| k.path.to_string()).collect::<Vec<_>>()),
        1 => "[a-z_]{1,10}(\\.[a-z_]{1,10}){0,2}",
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "-?[0-9]{1,20}",
        Just("true".to_string()),
        Just("false".to_string()),
        "\\PC{0,20}".prop_map(|s| toml_string(&s)),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("3.5".to_string()),
        Just("nan".to_string()),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec(("[a-z_]{1,8}", inner), 0..3)
                .prop_map(|kv| format!("{{ {} }}", kv.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", "))),
        ]
    })
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Configuration text: the file's own structure with any values, or noise.
fn toml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec((toml_key(), toml_value()), 0..10).prop_map(|kv| {
            kv.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>()
        }),
        1 => proptest::collection::vec(("[a-z_]{1,8}(\\.[a-z_]{1,8})?", proptest::collection::vec(("[a-z_]{1,10}", toml_value()), 0..4)), 0..4).prop_map(|tables| {
            tables.iter().map(|(t, kv)| format!("[{t}]\n{}", kv.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>())).collect::<String>()
        }),
        1 => "\\PC{0,300}",
    ]
}

proptest! {
    #![proptest_config(cases(128))]

    /// Any configuration file, environment values and `--set` overrides: a configuration
    /// or an error that says what is wrong, never a panic.
    #[test]
    fn any_configuration_loads_or_is_refused(
        text in toml_text(),
        env in proptest::collection::vec((proptest::sample::select(SETTABLE_KEYS.to_vec()), "\\PC{0,40}"), 0..4),
        set in proptest::collection::vec((toml_key(), "\\PC{0,30}"), 0..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keystation.toml");
        std::fs::write(&file, &text).unwrap();
        let vars: Vec<(String, String)> = env.iter().map(|(k, v)| (env_var_for(k.path), v.clone())).collect();
        let overrides = ConfigOverrides { set: set.iter().map(|(k, v)| format!("{k}={v}")).collect(), ..ConfigOverrides::default() };
        match ConfigLoader::new().file(&file).env(vars).overrides(overrides).load() {
            Ok(loaded) => {
                let _ = loaded.config.require_tenant();
                let _ = loaded.config.model_table();
                let _ = loaded.config.handover_recipients();
            }
            // toml's message quotes the offending line; nothing more of the file.
            Err(e) => check_error_text(&e, CONFIG_ERROR_MAX_CHARS)?,
        }
    }

    /// Any display-name template: parsed or refused; what it renders always fits Entra's
    /// 30 characters, whatever the key and the user are called.
    #[test]
    fn display_name_templates_always_fit(
        template in prop_oneof!["\\PC{0,60}", proptest::collection::vec(prop_oneof![
            Just("{model}".to_string()), Just("{vendor}".to_string()), Just("{serial}".to_string()), Just("{aaguid8}".to_string()),
            Just("{upn}".to_string()), Just("{user}".to_string()), Just("{date}".to_string()), "[^{}]{0,10}"], 0..6).prop_map(|p| p.concat())],
        model in proptest::option::of("\\PC{0,60}"),
        serial in proptest::option::of("\\PC{0,40}"),
        upn in proptest::option::of("\\PC{0,80}"),
    ) {
        if let Ok(t) = DisplayNameTemplate::parse(&template) {
            let input = DisplayNameInput {
                model_name: model.clone(),
                model_short: model,
                vendor: Some("Vendor".into()),
                serial,
                aaguid: Some("d5a92987-df19-484f-890d-2d49daf54f29".into()),
                upn,
                date: NaiveDate::from_ymd_opt(2026, 3, 14),
            };
            let name = t.render(&input);
            prop_assert!(keystation::station::config::display_width(&name) <= keystation::station::config::DISPLAY_NAME_MAX, "{name:?}");
            let distinct = t.render_distinct(&input, |n| n == name);
            prop_assert!(keystation::station::config::display_width(&distinct) <= keystation::station::config::DISPLAY_NAME_MAX, "{distinct:?}");
        }
    }
}
