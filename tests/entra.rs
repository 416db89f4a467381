//! The OAuth and Graph clients (and `keystation login`/`whoami`) against the in-process
//! Entra simulator. Run with `cargo test --test entra`.
#[path = "shared/json_output.rs"]
mod json_output;
mod entra {
    pub mod attest;
    pub mod common;
    pub mod logcapture;

    mod cli_auth;
    mod graph_errors;
    mod graph_fido2;
    mod graph_tap;
    mod graph_users;
    mod oauth_cache;
    mod oauth_client_credentials;
    mod oauth_device_code;
    mod retries;
    mod secrets_in_logs;
}
