//! `keystation demo --console`: the demo's simulated tenant and virtual keys, shown in
//! the console instead of the terminal. The batch starts once a browser has signed in
//! (so the operator sees it from the first key); afterwards the desk and the journal
//! stay there to try until the console is stopped.
use super::options::{ConsoleOptions, VirtualPeople};
use super::server::{start, ConsoleError, ConsoleHandle};
use crate::station::demo::{DemoError, DemoOptions, DemoWorld};
use std::time::Duration;

/// The demo's world and the console showing it.
pub struct DemoConsole {
    /// The running console.
    pub console: ConsoleHandle,
    world: DemoWorld,
    options: DemoOptions,
}

impl DemoConsole {
    /// Prepare the demo and start a console on it (loopback, `listen`'s port).
    pub async fn start(options: DemoOptions, listen: std::net::SocketAddr) -> Result<DemoConsole, DemoError> {
        let world = DemoWorld::prepare(&options).await?;
        let mut console_options = ConsoleOptions::loopback(&world.state_dir);
        console_options.listen = listen;
        console_options.batch.concurrency = options.keys;
        console_options.batch.via = options.via;
        console_options.people = Some(VirtualPeople {
            hub: world.hub.clone(),
            factory: Some(world.factory.clone()),
            spare_keys: options.users * 2,
            pace: options.remove_after,
            // Long enough to read the slip at the desk before the simulated person pulls the key.
            linger: Duration::from_secs(6),
        });
        let console = start(world.station.clone(), world.sources.clone(), console_options).await.map_err(|e| match e {
            ConsoleError::Config(m) => DemoError::Usage(m),
            other => DemoError::Setup(other.to_string()),
        })?;
        Ok(DemoConsole { console, world, options })
    }

    /// Where the journal is, and whether it is kept after the demo.
    pub fn state_dir(&self) -> (&std::path::Path, bool) {
        (&self.world.state_dir, self.world.state_dir_kept)
    }

    /// Wait for a browser to sign in, then run the demo's batch on the hub and wait for
    /// it to end.
    pub async fn run_batch_when_signed_in(&self) -> Result<(), DemoError> {
        self.console.signed_in().await;
        // The hub page needs a moment to connect its live stream.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.console.start_batch(self.world.plan.clone(), DemoWorld::batch_options(&self.options)).map_err(DemoError::Setup)?;
        self.console.idle().await;
        Ok(())
    }

    /// Stop the console (and the simulator with the world).
    pub async fn shutdown(self) {
        self.console.shutdown().await;
    }
}
