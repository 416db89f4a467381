//! What every handler shares: the station, the keys, the sign-in state, the desk's and
//! the hub's state, and the one activity that runs.
use super::activity::Activities;
use super::auth::Auth;
use super::desk::screen::DeskScreen;
use super::hub::Hub;
use super::options::ConsoleOptions;
use super::origin::Origins;
use crate::key::sources::KeySources;
use crate::station::pipeline::Station;
use std::sync::Arc;
use crate::station::pipeline::CancelToken;

/// The console's shared state.
pub struct App {
    /// The station (one journal, one Graph client) every activity uses.
    pub station: Arc<Station>,
    /// The keys.
    pub sources: KeySources,
    /// Sessions and secrets.
    pub auth: Auth,
    /// The names the console answers to.
    pub origins: Origins,
    /// Served over HTTPS.
    pub tls: bool,
    /// The desk's screen.
    pub desk: Arc<DeskScreen>,
    /// The hub's state.
    pub hub: Arc<Hub>,
    /// What runs now.
    pub activities: Activities,
    /// How the console was started.
    pub options: ConsoleOptions,
    /// Cancelled when the console stops (ends live streams and activities).
    pub stop: CancelToken,
    /// Signalled when a browser signs in (the demo waits for it).
    pub signed_in: tokio::sync::Notify,
}
