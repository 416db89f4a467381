//! The key client (CTAPHID, CTAP2, PIN protocols, worker) against virtual keys running
//! Google's OpenSK core, through the public API; and the `keystation keys` CLI.
#[path = "shared/json_output.rs"]
mod json_output;
mod keys {
    pub mod support;
    mod concurrency;
    mod config;
    mod credentials;
    mod cli;
    mod discovery;
    mod info;
    mod legacy;
    mod make_credential;
    mod pin;
    mod reset;
    mod robustness;
}
