//! The Entra layer: OAuth against the Microsoft identity platform, a typed Microsoft
//! Graph client, and a local simulator of both. Nothing in here knows about keys.
pub mod cloud;
pub mod tls;
pub mod http;
pub mod oauth;
pub mod graph;
pub mod simulator;
