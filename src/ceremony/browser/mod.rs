//! Registration through a real Chromium, with keystation answering WebAuthn itself.
//!
//! ```text
//!  Browser (session.rs)          chromedriver child + Chromium + one BiDi WebSocket
//!   ├─ event router              script.message → the bridge of that channel
//!   └─ EnrollmentContext         BiDi user context (private cookies) + tab   context.rs
//!        ├─ bridge.js            preload script in every frame/popup: replaces
//!        │                       navigator.credentials.create/get
//!        └─ Bridge (bridge.rs)   origin + frame from the browser (frames.rs), rp.id
//!                                allow-list, WebAuthn client, key via CredentialMaker
//! ```
//! Why WebDriver BiDi and not CDP, how origins are checked, what the page's fake
//! credential contains and the get() policy are described in docs/browser-ceremony.md.
#![warn(missing_docs)]
pub mod bidi;
pub mod bridge;
pub mod chromedriver;
pub mod config;
pub mod context;
pub mod error;
pub mod frames;
pub mod host;
pub mod messages;
pub mod session;

pub use bridge::{BRIDGE_JS, BridgeEvent};
pub use chromedriver::binaries_present;
pub use config::BrowserConfig;
pub use context::EnrollmentContext;
pub use error::BrowserError;
pub use host::BrowserHost;
pub use session::Browser;
