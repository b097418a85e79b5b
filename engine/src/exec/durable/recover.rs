//! Startup recovery: running executions from their snapshots, timers, and
//! tasks by where their records say they stand.

use super::{to_vec, Actor, ExecError, Group, Inflight, Live, RecoveryReport};
use crate::asl::{Event, Execution, StateError};
use crate::store::{key, ExecutionRecord, ExecutionStatus, StoreError, TaskPhase, TaskRecord};
use crate::tasks::Resource;

impl Actor {
    pub(super) fn recover(&mut self) -> Result<RecoveryReport, ExecError> {
        let t0 = std::time::Instant::now();
        let mut report = RecoveryReport::default();
        let snaps: Vec<(u64, sled::IVec)> = self.store.snapshots().collect::<Result<_, _>>()?;
        // Map Run children failed here: their Map Runs hear of it below.
        let mut lost_children = Vec::new();
        for (id, bytes) in snaps {
            let Some(mut rec) = self.store.execution(id)? else {
                continue;
            };
            if rec.status != ExecutionStatus::Running {
                continue; // kept only for RedriveExecution
            }
            match self.restore(&rec, &bytes) {
                Ok(ex) => {
                    self.by_arn.insert(rec.arn.clone(), id);
                    let live = Live {
                        ex,
                        rec,
                        dirty: false,
                        timed_out_tokens: Vec::new(),
                    };
                    self.live.insert(id, live);
                    report.executions += 1;
                }
                Err(e) => {
                    // One unreadable execution fails alone; the rest recover.
                    tracing::error!(execution = %rec.arn, "cannot recover: {e}");
                    rec.status = ExecutionStatus::Failed;
                    rec.error = Some(crate::asl::error::RUNTIME.into());
                    rec.cause = Some(format!("The execution could not be recovered after a restart: {e}"));
                    rec.stop_ms = Some(self.cfg.clock.now_ms());
                    report.failed += 1;
                    if rec.map_run.is_some() {
                        // Written with its Map Run's counts, in one batch.
                        lost_children.push(rec);
                        continue;
                    }
                    let mut b = sled::Batch::default();
                    b.insert(key::execution(id), to_vec(&rec));
                    b.remove(key::snapshot(id));
                    self.store.apply(b)?;
                }
            }
        }
        for (at, id, token) in self.store.timers()? {
            if !self.live.contains_key(&id) {
                continue;
            }
            self.timers.insert((at, id, token));
            self.timer_at.insert((id, token), at);
            report.timers += 1;
        }
        self.recover_map_runs()?;
        let mut g = Group::default();
        for rec in &lost_children {
            g.batch.insert(key::execution(rec.id), to_vec(rec));
            g.batch.remove(key::snapshot(rec.id));
            self.map_child_ended(rec, &mut g);
        }
        // Running Map Runs go on starting children (a run may have been
        // waiting for the next group when the server stopped).
        g.map_starts.extend(self.runs.keys().cloned());
        self.recover_tasks(&mut report, &mut g)?;
        for (id, token, bytes) in self.store.cancels()? {
            match serde_json::from_slice::<TaskRecord>(&bytes) {
                Ok(rec) => self.spawn_cancel(id, token, rec),
                Err(e) => {
                    tracing::error!("dropping an unreadable cancel record: {e}");
                    g.batch.remove(key::cancel(id, token));
                }
            }
        }
        self.drain_deferred(&mut g);
        self.snapshot_dirty(&mut g);
        self.store.apply(std::mem::take(&mut g.batch))?;
        self.apply_effects(std::mem::take(&mut g.effects));
        report.elapsed_ms = t0.elapsed().as_millis();
        Ok(report)
    }

    fn recover_tasks(&mut self, report: &mut RecoveryReport, g: &mut Group) -> Result<(), ExecError> {
        for (id, token, bytes) in self.store.tasks()? {
            if !self.live.contains_key(&id) {
                g.batch.remove(key::task(id, token));
                continue;
            }
            let rec: TaskRecord = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    // One unreadable task fails its own state (Retry and
                    // Catch apply); the rest recover.
                    tracing::error!(id, token, "unreadable task record: {e}");
                    g.batch.remove(key::task(id, token));
                    let error = StateError::new(
                        crate::asl::error::TASK_FAILED,
                        format!("The task's record could not be read after a restart: {e}"),
                    );
                    g.deferred.push((id, Event::TaskFailed { token, error }));
                    report.failed += 1;
                    continue;
                }
            };
            let phase = rec.phase.clone();
            let resource = rec.invocation.resource.to_string();
            self.tasks.insert((id, token), Inflight::new(rec));
            match phase {
                TaskPhase::Dispatched => {
                    self.spawn_start(id, token);
                    report.tasks += 1;
                }
                TaskPhase::Polling { next_ms, .. } => {
                    self.polls.insert((next_ms, id, token));
                    report.polls += 1;
                }
                TaskPhase::Parked | TaskPhase::Handed => report.parked += 1,
                TaskPhase::Queued => {
                    let arn = Resource::parse(&resource).arn().to_string();
                    self.queues.entry(arn).or_default().push_back((id, token));
                    report.parked += 1;
                }
            }
        }
        Ok(())
    }

    fn restore(&mut self, rec: &ExecutionRecord, bytes: &[u8]) -> Result<Execution, ExecError> {
        let machine = self.machine(&rec.sm_name, rec.revision)?;
        let ex: Execution = serde_json::from_slice(bytes).map_err(StoreError::from)?;
        let input = serde_json::from_str(&rec.input).map_err(StoreError::from)?;
        let ex = ex.restore(machine, input);
        ex.check().map_err(ExecError::InvalidDefinition)?;
        Ok(ex)
    }
}
