//! The virtual key (OpenSK core behind the report seam), its hub, key sources and the
//! watcher, tested at the report level with a tiny independent CTAPHID host.
#[path = "virtual_key/ctaphid.rs"]
mod ctaphid;

#[path = "virtual_key/basics.rs"]
mod basics;
#[path = "virtual_key/touch.rs"]
mod touch;
#[path = "virtual_key/faults.rs"]
mod faults;
#[path = "virtual_key/attestation.rs"]
mod attestation;
#[path = "virtual_key/persistence.rs"]
mod persistence;
#[path = "virtual_key/sources.rs"]
mod sources;
#[path = "virtual_key/watcher.rs"]
mod watcher;
#[path = "virtual_key/opensk_quirks.rs"]
mod opensk_quirks;
#[path = "virtual_key/measure.rs"]
mod measure;
