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
pub mod banners;
pub mod automatic;
pub mod bidi;
pub mod bridge;
pub mod chromedriver;
pub mod config;
pub mod confirm;
pub mod context;
pub mod error;
pub mod evidence;
pub mod flow;
pub mod frames;
pub mod gate;
pub mod host;
pub mod manual;
pub mod messages;
pub mod page;
pub mod registrar;
pub mod session;

pub use automatic::BudgetOverrides;
pub use bridge::{BRIDGE_JS, BridgeEvent};
pub use chromedriver::binaries_present;
pub use config::BrowserConfig;
pub use context::EnrollmentContext;
pub use error::BrowserError;
pub use gate::{CeremonyGate, ContextOptions};
pub use flow::{BuiltinFlow, Flow, FlowError, FlowVars};
pub use host::{BrowserHost, Start};
pub use manual::{ManualOutcome, ManualPrompt, ManualWindow, NoOperator, OperatorPrompt, PromptFn, TerminalPrompt};
pub use registrar::{BrowserMode, BrowserRegistrar, BrowserRegistrarConfig, BrowserTarget, FlowChoice, RegistrarStats, StationBrowser};
pub use session::Browser;
