//! Map Runs: a Distributed Map's children as stored executions.
//!
//! `Command::StartMapRun` creates the Map Run's record and stores the
//! children's inputs once; children then start up to `MaxConcurrency`, each
//! an execution of the Map's `ItemProcessor` (the parent's definition, from
//! another state list) with its own record, history and snapshot. A child's
//! end, its output, the Map Run's counts and the next children's starts go
//! in the same group commit, so after a crash recovery finds every started
//! child (running, or ended with its output) and starts none twice. When
//! the run is decided the parent gets `Event::MapRunEnded`. All of it is
//! queued in the group and drained in a loop (`drain_deferred`), never by
//! recursion, so a run of short children cannot deepen the stack.

use super::{to_vec, Actor, Group};
use crate::asl::maprun::{self, ChildEnd, MapRun, MapRunRequest, MapRunStatus};
use crate::asl::{Event, Execution, Options, StateError};
use crate::store::maprun::key as run_key;
use crate::store::{key, ExecutionRecord, ExecutionStatus, MapRunRecord};
use serde_json::Value;
use std::collections::HashMap;

/// Children a group starts at most; a Map Run with more to start goes on
/// in the next group, so a group's batch and memory stay bounded however
/// many items there are.
pub(super) const STARTS_PER_GROUP: usize = 2_000;

/// A running Map Run in memory.
pub(super) struct RunLive {
    rec: MapRunRecord,
    /// Inputs of children not started yet (taken when started).
    inputs: Vec<Option<Value>>,
    /// Outputs by index (a failed child's error and cause).
    outputs: Vec<Value>,
    /// Running children: execution id → index.
    children: HashMap<u64, u32>,
}

/// A child's end, queued for the drain.
pub(super) struct ChildDone {
    run: String,
    id: u64,
    index: u32,
    end: ChildEnd,
    output: Value,
}

impl Actor {
    /// `Command::StartMapRun` of execution `id`.
    pub(super) fn start_map_run(&mut self, id: u64, req: MapRunRequest, now: i64, g: &mut Group) {
        if req.redrive {
            return self.redrive_map_run(id, req, g);
        }
        let Some(l) = self.live.get(&id) else { return };
        let rec = MapRunRecord {
            arn: req.map_run_arn.clone(),
            execution_arn: l.rec.arn.clone(),
            execution_id: id,
            token: req.token,
            label: req.label.clone(),
            state_name: req.state_name.to_string(),
            processor: req.processor,
            express: req.express,
            sm_name: l.rec.sm_name.clone(),
            revision: l.rec.revision,
            sm_arn: l.ex.info().state_machine_arn.clone(),
            role_arn: l.ex.info().role_arn.clone(),
            test_case: l.rec.test_case.clone(),
            start_ms: now,
            stop_ms: None,
            run: MapRun::new(&req),
            detailed: req.detailed,
        };
        g.batch.insert(run_key::inputs(&rec.arn), to_vec(&req.inputs));
        g.batch.insert(run_key::of_execution(&rec.execution_arn, &rec.arn), b"");
        let n = req.inputs.len();
        let arn = rec.arn.clone();
        let live = RunLive {
            rec,
            inputs: req.inputs.into_iter().map(Some).collect(),
            outputs: vec![Value::Null; n],
            children: HashMap::new(),
        };
        self.runs.insert(arn.clone(), live);
        g.dirty_runs.insert(arn.clone());
        if n == 0 {
            if let Some(r) = self.runs.get_mut(&arn) {
                r.rec.run.status = MapRunStatus::Succeeded;
            }
            return self.end_run(&arn, Ok(Value::Array(Vec::new())), now, g);
        }
        g.map_starts.push(arn);
    }

    /// A redriven parent goes on with its Map Run: the children that did
    /// not succeed run again (new executions), the outputs of the others
    /// are kept.
    fn redrive_map_run(&mut self, id: u64, req: MapRunRequest, g: &mut Group) {
        let arn = req.map_run_arn;
        let loaded = match self.runs.remove(&arn) {
            Some(r) if r.children.is_empty() => Ok(Some(r.rec)),
            Some(r) => {
                self.runs.insert(arn.clone(), r);
                Err("its children are still stopping".to_string())
            }
            None => self.store.map_run(&arn).map_err(|e| e.to_string()),
        };
        let mut rec = match loaded {
            Ok(Some(rec)) => rec,
            Ok(None) => return self.cannot_redrive(id, req.token, &arn, "it does not exist", g),
            Err(e) => return self.cannot_redrive(id, req.token, &arn, &e, g),
        };
        if !rec.run.redrive() {
            return self.cannot_redrive(id, req.token, &arn, "it is not FAILED or ABORTED", g);
        }
        rec.execution_id = id;
        rec.token = req.token;
        rec.stop_ms = None;
        let (inputs, outputs) = match (self.store.map_run_inputs(&arn), self.store.map_run_outputs(&arn)) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => return self.cannot_redrive(id, req.token, &arn, &e.to_string(), g),
        };
        let mut kept = vec![Value::Null; inputs.len()];
        for (i, v) in outputs {
            if let Some(slot) = kept.get_mut(i as usize) {
                *slot = v;
            }
        }
        self.runs.insert(
            arn.clone(),
            RunLive {
                rec,
                inputs: inputs.into_iter().map(Some).collect(),
                outputs: kept,
                children: HashMap::new(),
            },
        );
        g.dirty_runs.insert(arn.clone());
        g.map_starts.push(arn);
    }

    fn cannot_redrive(&mut self, id: u64, token: u64, arn: &str, why: &str, g: &mut Group) {
        let e = StateError::runtime(format!("The Map Run {arn} cannot be redriven: {why}"));
        g.deferred.push((id, Event::MapRunEnded { token, result: Err(e) }));
    }

    /// `Command::AbortMapRun`: the parent no longer waits; its running
    /// children are stopped.
    pub(super) fn abort_map_run(&mut self, id: u64, token: u64, now: i64, g: &mut Group) {
        let Some((arn, r)) = self
            .runs
            .iter_mut()
            .find(|(_, r)| r.rec.execution_id == id && r.rec.token == token)
        else {
            return;
        };
        if r.rec.run.abort() {
            r.rec.stop_ms = Some(now);
            g.dirty_runs.insert(arn.clone());
            stop_children(r, "The Map Run was aborted", g);
        }
    }

    /// A child ended (called from `step`): queued for the drain.
    pub(super) fn map_child_ended(&mut self, rec: &ExecutionRecord, g: &mut Group) {
        let Some((run, index)) = &rec.map_run else { return };
        let end = match rec.status {
            ExecutionStatus::Succeeded => ChildEnd::Succeeded,
            ExecutionStatus::TimedOut => ChildEnd::TimedOut,
            ExecutionStatus::Aborted => ChildEnd::Aborted,
            _ => ChildEnd::Failed,
        };
        let (error, cause) = (rec.error.as_deref().unwrap_or(""), rec.cause.as_deref().unwrap_or(""));
        let out = rec.output.as_deref().unwrap_or("null");
        let output = if self.runs.get(run).is_some_and(|r| r.rec.detailed) {
            let output = if end == ChildEnd::Succeeded {
                Ok(out)
            } else {
                Err((error, cause))
            };
            let stop = rec.stop_ms.unwrap_or(rec.start_ms);
            maprun::child_detail(
                &rec.arn,
                &rec.name,
                &rec.sm_arn,
                rec.status.as_str(),
                &rec.input,
                rec.start_ms,
                stop,
                output,
            )
        } else if end == ChildEnd::Succeeded {
            serde_json::from_str(out).unwrap_or(Value::Null)
        } else {
            maprun::failed_entry(error, cause)
        };
        g.child_ends.push(ChildDone {
            run: run.clone(),
            id: rec.id,
            index: *index,
            end,
            output,
        });
    }

    /// Processes queued child ends and starts children; returns whether
    /// there was anything to do.
    pub(super) fn drain_map_runs(&mut self, now: i64, g: &mut Group) -> bool {
        if g.child_ends.is_empty() && g.map_starts.is_empty() {
            return false;
        }
        for done in std::mem::take(&mut g.child_ends) {
            let Some(r) = self.runs.get_mut(&done.run) else {
                continue;
            };
            r.children.remove(&done.id);
            g.batch
                .insert(run_key::output(&done.run, done.index), to_vec(&done.output));
            if let Some(slot) = r.outputs.get_mut(done.index as usize) {
                *slot = done.output;
            }
            g.dirty_runs.insert(done.run.clone());
            match r.rec.run.child_ended(done.index, done.end) {
                Some(MapRunStatus::Succeeded) => {
                    let outputs = Value::Array(std::mem::take(&mut r.outputs));
                    self.end_run(&done.run, Ok(outputs), now, g);
                }
                Some(_) => {
                    let e = r
                        .rec
                        .run
                        .error
                        .clone()
                        .unwrap_or_else(|| StateError::runtime("the Map Run failed"));
                    stop_children(r, "The Map Run failed", g);
                    self.end_run(&done.run, Err(e), now, g);
                }
                None => g.map_starts.push(done.run),
            }
        }
        for arn in std::mem::take(&mut g.map_starts) {
            if g.started >= STARTS_PER_GROUP {
                // The next group goes on: one group holds a bounded batch.
                if !self.map_backlog.contains(&arn) {
                    self.map_backlog.push(arn);
                }
                continue;
            }
            let Some(r) = self.runs.get_mut(&arn) else { continue };
            let room = STARTS_PER_GROUP - g.started;
            let saved = r.rec.run.max_concurrency;
            // At most `room` now: take them under a temporary bound.
            let running = r.rec.run.executions.running;
            let bound = match saved {
                0 => maprun::DEFAULT_CONCURRENCY,
                n => n.min(maprun::DEFAULT_CONCURRENCY),
            };
            r.rec.run.max_concurrency = bound.min(running + room as u64).max(1);
            let start = r.rec.run.to_start();
            r.rec.run.max_concurrency = saved;
            if !start.is_empty() {
                g.dirty_runs.insert(arn.clone());
            }
            g.started += start.len();
            let more = g.started >= STARTS_PER_GROUP && r.rec.run.executions.pending > 0;
            for i in start {
                self.start_child(&arn, i, now, g);
            }
            if more && !self.map_backlog.contains(&arn) {
                self.map_backlog.push(arn);
            }
        }
        true
    }

    /// The run is decided: tell the parent.
    fn end_run(&mut self, arn: &str, result: Result<Value, StateError>, now: i64, g: &mut Group) {
        let Some(r) = self.runs.get_mut(arn) else { return };
        r.rec.stop_ms = Some(now);
        g.deferred.push((
            r.rec.execution_id,
            Event::MapRunEnded {
                token: r.rec.token,
                result,
            },
        ));
    }

    fn start_child(&mut self, arn: &str, index: u32, now: i64, g: &mut Group) {
        let Some(r) = self.runs.get_mut(arn) else { return };
        let input = r
            .inputs
            .get_mut(index as usize)
            .and_then(Option::take)
            .unwrap_or(Value::Null);
        let rec = &r.rec;
        let (sm_name, revision, label, processor, test_case) = (
            rec.sm_name.clone(),
            rec.revision,
            rec.label.clone(),
            rec.processor,
            rec.test_case.clone(),
        );
        let parent = crate::asl::ExecutionInfo {
            execution_arn: rec.execution_arn.clone(),
            name: String::new(),
            state_machine_arn: rec.sm_arn.clone(),
            state_machine_name: rec.sm_name.clone(),
            role_arn: rec.role_arn.clone(),
            start_time_ms: rec.start_ms,
        };
        let machine = match self.machine(&sm_name, revision) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(map_run = %arn, "cannot start a child: {e}");
                let output = maprun::failed_entry(crate::asl::error::RUNTIME, &e.to_string());
                g.child_ends.push(ChildDone {
                    run: arn.to_string(),
                    id: u64::MAX,
                    index,
                    end: ChildEnd::Failed,
                    output,
                });
                return;
            }
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let info = maprun::child_info(&parent, &label, &uuid, now);
        let id = self.next_id;
        self.next_id += 1;
        g.batch.insert(key::COUNTER, &self.next_id.to_be_bytes());
        let opts = Options {
            history: true,
            seed: Some(super::fresh_seed()),
            start_list: Some(processor),
            ..Options::default()
        };
        let child = ExecutionRecord {
            id,
            arn: info.execution_arn.clone(),
            name: uuid,
            sm_arn: info.state_machine_arn.clone(),
            sm_name,
            revision,
            test_case,
            status: ExecutionStatus::Running,
            input: input.to_string(),
            output: None,
            error: None,
            cause: None,
            start_ms: now,
            stop_ms: None,
            redrive_count: 0,
            redrive_ms: None,
            map_run: Some((arn.to_string(), index)),
        };
        let (ex, cmds) = Execution::start(machine, info, input, opts, now);
        g.batch.insert(key::arn(&child.arn), &id.to_be_bytes());
        g.batch.insert(key::listing(arn, now, id), b"");
        if let Some(r) = self.runs.get_mut(arn) {
            r.children.insert(id, index);
        }
        self.go_live(id, ex, child);
        self.step(id, cmds, now, g);
    }

    /// Writes the Map Run records changed in this group; runs that ended
    /// with no child left leave memory.
    pub(super) fn write_runs(&mut self, g: &mut Group) {
        for arn in std::mem::take(&mut g.dirty_runs) {
            let Some(r) = self.runs.get(&arn) else { continue };
            g.batch.insert(run_key::map_run(&arn), to_vec(&r.rec));
            if r.rec.run.status != MapRunStatus::Running && r.children.is_empty() {
                self.runs.remove(&arn);
            }
        }
    }

    /// UpdateMapRun.
    pub(super) fn update_map_run(
        &mut self,
        arn: &str,
        max_concurrency: Option<u64>,
        count: Option<u64>,
        percentage: Option<f64>,
        g: &mut Group,
    ) -> bool {
        let Some(r) = self
            .runs
            .get_mut(arn)
            .filter(|r| r.rec.run.status == MapRunStatus::Running)
        else {
            return false;
        };
        r.rec.run.update(max_concurrency, count, percentage);
        g.dirty_runs.insert(arn.to_string());
        g.map_starts.push(arn.to_string());
        true
    }

    /// Recovery: running Map Runs with their running children, inputs not
    /// yet used and outputs so far.
    pub(super) fn recover_map_runs(&mut self) -> Result<usize, crate::store::StoreError> {
        let mut n = 0;
        // Running children by Map Run, in one pass over the executions.
        let mut by_run: HashMap<String, HashMap<u64, u32>> = HashMap::new();
        for (id, l) in &self.live {
            if let Some((a, i)) = &l.rec.map_run {
                by_run.entry(a.clone()).or_default().insert(*id, *i);
            }
        }
        for rec in self.store.map_runs()? {
            if rec.run.status != MapRunStatus::Running {
                continue;
            }
            let inputs = self.store.map_run_inputs(&rec.arn)?;
            let mut outputs = vec![Value::Null; inputs.len()];
            for (i, v) in self.store.map_run_outputs(&rec.arn)? {
                if let Some(slot) = outputs.get_mut(i as usize) {
                    *slot = v;
                }
            }
            // A redrive's queue may hold indexes already started once: keep all.
            let inputs = inputs.into_iter().map(Some).collect();
            let children = by_run.remove(&rec.arn).unwrap_or_default();
            self.runs.insert(
                rec.arn.clone(),
                RunLive {
                    rec,
                    inputs,
                    outputs,
                    children,
                },
            );
            n += 1;
        }
        Ok(n)
    }
}

/// Stops a run's running children (their ends come back through the drain
/// and are counted as aborted).
fn stop_children(r: &RunLive, cause: &str, g: &mut Group) {
    let mut ids: Vec<u64> = r.children.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        g.deferred.push((
            id,
            Event::Stop {
                error: None,
                cause: Some(cause.to_string()),
            },
        ));
    }
}
