//! The desk page: the enrollment desk's kiosk loop (`station::kiosk`, the same loop as
//! `keystation kiosk`) with the browser as its screen and keyboard.
//!
//! * [`screen`]: the kiosk's screens as the page's state (refusals that stay, the slip
//!   held once);
//! * [`input`]: names and PINs from the page to the loop;
//! * [`routes`]: the desk's HTTP endpoints.
//!
//! Opening the desk locks the browser's session to it; the operator's PIN, the exit
//! sequence or the launch link unlock it again and close the desk after the person at it.
pub mod input;
pub mod routes;
pub mod screen;

use super::app::App;
use crate::station::kiosk::visitor::VirtualVisitors;
use crate::station::kiosk::{Kiosk, KioskDisplay};
use std::sync::Arc;

/// Open the desk (start the kiosk loop) unless something else runs.
pub fn open(app: &Arc<App>) -> Result<(), String> {
    let (inbox, input) = input::channel(Arc::clone(&app.desk), app.options.pin_timeout);
    let cancel = crate::station::pipeline::CancelToken::new();
    let id = app.activities.begin_desk(inbox, cancel.clone())?;
    app.desk.set_open(true);
    let display: Arc<dyn KioskDisplay> = match &app.options.people {
        Some(people) => {
            let visitors = VirtualVisitors::new(people.hub.clone(), Arc::clone(&app.desk) as Arc<dyn KioskDisplay>);
            Arc::new(match &people.factory {
                Some(f) => visitors.with_factory(Arc::clone(f), people.linger),
                None => visitors,
            })
        }
        None => Arc::clone(&app.desk) as Arc<dyn KioskDisplay>,
    };
    let kiosk = Kiosk::new(Arc::clone(&app.station), app.sources.clone(), Box::new(input), display, app.options.kiosk.clone());
    let app = Arc::clone(app);
    tokio::spawn(async move {
        match kiosk.run(cancel).await {
            Ok(summary) => tracing::info!(served = summary.results.len(), done = summary.done(), "the desk closed"),
            Err(e) => {
                tracing::warn!(error = %e, "the desk could not watch for keys");
                app.desk.set_problem(Some(format!("The desk could not watch for keys: {e}")));
            }
        }
        app.desk.set_open(false);
        app.activities.end(id);
    });
    Ok(())
}
