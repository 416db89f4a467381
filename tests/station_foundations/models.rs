//! AAGUID table: built-in entries and entries added by configuration (e.g. keystation's
//! own virtual key).
use crate::common::write_file;
use keystation::station::config::ConfigLoader;
use keystation::station::models::{ModelSource, ModelTable};

#[test]
fn configuration_extends_and_overrides_the_built_in_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "k.toml",
        r#"
[[models]]
aaguid = "6b657973-7461-7469-6f6e-766972747561"
vendor = "keystation"
name = "keystation virtual key"
short = "Virtual key"

[[models]]
aaguid = "2FC0579F811347EAB116BB5A8DB9202A"
vendor = "Yubico"
name = "YubiKey 5C NFC (desk stock)"
"#,
    );
    let table = ConfigLoader::new().file(&p).load().unwrap().config.model_table().unwrap();
    let v = table.lookup("6b657973-7461-7469-6f6e-766972747561").unwrap();
    assert_eq!((v.vendor.as_str(), v.short.as_str(), v.source), ("keystation", "Virtual key", ModelSource::Config));
    let y = table.lookup("2fc0579f-8113-47ea-b116-bb5a8db9202a").unwrap();
    assert_eq!(y.name, "YubiKey 5C NFC (desk stock)");
    assert_eq!(y.short, "YubiKey 5C NFC (desk stock)", "short defaults to the name");
    // Untouched built-ins are still there.
    let titan = table.lookup("42b4fb4a-2866-43b2-9bf7-6c6669c2e5d3").unwrap();
    assert_eq!((titan.vendor.as_str(), titan.source), ("Google", ModelSource::BuiltIn));
    assert_eq!(table.len(), ModelTable::builtin().len() + 1);
}

#[test]
fn a_bad_model_entry_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "k.toml", "[[models]]\naaguid = \"xyz\"\nvendor = \"v\"\nname = \"n\"\n");
    let e = ConfigLoader::new().file(&p).load().unwrap_err();
    assert!(e.to_string().contains("`models` models[0]: `xyz` is not an AAGUID"), "{e}");
}
