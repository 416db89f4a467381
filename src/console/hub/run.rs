//! Starting a batch on the hub: the same planner and runner as `keystation batch`, with
//! the hub as the sink (and, for virtual keys, the simulated operator in between).
use crate::console::app::App;
use crate::station::batch::{run_batch, BatchControl, BatchOptions, BatchPlan, BatchSink, KeySupply};
use crate::station::demo::{DeskOptions, VirtualDesk};
use std::sync::Arc;

/// Start `plan` now, unless something else runs. `options.supply` is decided here when
/// the console simulates people (a factory means keys keep coming).
pub fn start(app: &Arc<App>, plan: BatchPlan, mut options: BatchOptions) -> Result<(), String> {
    let control = BatchControl::default();
    let id = app.activities.begin_batch(control.clone())?;
    app.hub.begin_run();
    let hub: Arc<dyn BatchSink> = Arc::clone(&app.hub) as Arc<dyn BatchSink>;
    let sink: Arc<dyn BatchSink> = match &app.options.people {
        Some(p) => {
            options.supply = if p.factory.is_some() { KeySupply::Open } else { KeySupply::Finite };
            let desk = VirtualDesk::new(
                p.hub.clone(),
                hub,
                DeskOptions { remove_after: p.pace, plug_after: p.pace, spare_keys: p.spare_keys, factory: p.factory.clone() },
            );
            if let Err(e) = desk.plug_initial(options.concurrency.min(plan.to_do())) {
                app.activities.end(id);
                return Err(format!("cannot plug the simulated keys in: {e}"));
            }
            Arc::new(desk)
        }
        None => hub,
    };
    let (station, sources, app2) = (Arc::clone(&app.station), app.sources.clone(), Arc::clone(app));
    tokio::spawn(async move {
        let report = run_batch(station, sources, plan, options, sink, control).await;
        tracing::info!(batch = %report.batch_id, done = report.counts.done, failed = report.counts.failed, "the batch ended");
        app2.activities.end(id);
    });
    Ok(())
}
