//! Starting, stopping and redriving executions, and persisting each step:
//! history, commands, record and snapshot, into the group's batch.

use super::{to_vec, Actor, Effect, ExecError, Group, Live, StartRequest};
use crate::asl::{Command, Event, Execution, ExecutionInfo, Options, Status};
use crate::store::{key, ExecutionRecord, ExecutionStatus, StoreError};
use serde_json::Value;

/// 256 bits from the operating system's generator (two v4 UUIDs' worth), for
/// an execution's [`Options::seed`].
pub fn fresh_seed() -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    s[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    s
}

impl Actor {
    /// An execution's record as this group sees it: running, ended in this
    /// group (not yet in the store), or stored.
    fn lookup(&self, arn: &str, g: &Group) -> Result<Option<ExecutionRecord>, ExecError> {
        if let Some(l) = self.by_arn.get(arn).and_then(|id| self.live.get(id)) {
            return Ok(Some(l.rec.clone()));
        }
        if let Some((rec, _)) = g.ended.get(arn) {
            return Ok(Some(rec.clone()));
        }
        Ok(self.store.execution_by_arn(arn)?)
    }

    pub(super) fn start(&mut self, req: StartRequest, now: i64, g: &mut Group) -> Result<ExecutionRecord, ExecError> {
        let sm = &req.machine;
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{}",
            self.cfg.region, self.cfg.account, sm.name, req.name
        );
        if let Some(rec) = self.lookup(&arn, g)? {
            // As AWS: the same name and input while running returns the same
            // execution; anything else is a conflict.
            return if rec.status == ExecutionStatus::Running && rec.input == req.input {
                Ok(rec)
            } else {
                Err(ExecError::AlreadyExists(arn))
            };
        }
        let input: Value = serde_json::from_str(&req.input)
            .map_err(|e| ExecError::InvalidInput(format!("Invalid State Machine Execution Input: '{e}'")))?;
        let machine = self.machine(&sm.name, sm.revision)?;
        let id = self.next_id;
        self.next_id += 1;
        g.batch.insert(key::COUNTER, &self.next_id.to_be_bytes());
        let info = ExecutionInfo {
            execution_arn: arn.clone(),
            name: req.name.clone(),
            state_machine_arn: sm.arn.clone(),
            state_machine_name: sm.name.clone(),
            role_arn: sm.role_arn.clone(),
            start_time_ms: now,
        };
        let opts = Options {
            history: true,
            seed: Some(fresh_seed()),
            history_sink: None,
            variables: None,
            start_list: None,
        };
        let (ex, cmds) = Execution::start(machine, info, input, opts, now);
        let rec = ExecutionRecord {
            id,
            arn: arn.clone(),
            name: req.name,
            sm_arn: sm.arn.clone(),
            sm_name: sm.name.clone(),
            revision: sm.revision,
            test_case: req.test_case,
            status: ExecutionStatus::Running,
            input: req.input,
            output: None,
            error: None,
            cause: None,
            start_ms: now,
            stop_ms: None,
            redrive_count: 0,
            redrive_ms: None,
            map_run: None,
        };
        g.batch.insert(key::arn(&arn), &id.to_be_bytes());
        g.batch.insert(key::listing(&sm.name, now, id), b"");
        self.go_live(id, ex, rec);
        Ok(self.step(id, cmds, now, g))
    }

    /// Makes an execution running in memory; its record is written with its
    /// next step.
    pub(super) fn go_live(&mut self, id: u64, ex: Execution, rec: ExecutionRecord) {
        self.by_arn.insert(rec.arn.clone(), id);
        let live = Live {
            ex,
            rec,
            dirty: true,
            timed_out_tokens: Vec::new(),
        };
        self.live.insert(id, live);
    }

    pub(super) fn stop(
        &mut self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
        now: i64,
        g: &mut Group,
    ) -> Result<ExecutionRecord, ExecError> {
        match self.by_arn.get(arn).copied() {
            Some(id) => {
                let cmds = self
                    .live
                    .get_mut(&id)
                    .map(|l| l.ex.handle(Event::Stop { error, cause }, now));
                Ok(self.step(id, cmds.unwrap_or_default(), now, g))
            }
            None => self
                .lookup(arn, g)?
                .ok_or_else(|| ExecError::DoesNotExist(arn.to_string())),
        }
    }

    pub(super) fn redrive(&mut self, arn: &str, now: i64, g: &mut Group) -> Result<ExecutionRecord, ExecError> {
        let rec = self
            .lookup(arn, g)?
            .ok_or_else(|| ExecError::DoesNotExist(arn.to_string()))?;
        if rec.map_run.is_some() {
            return Err(ExecError::NotRedrivable(
                "a Distributed Map's child execution cannot be redriven on its own; redrive its parent".into(),
            ));
        }
        if self.by_arn.contains_key(arn) || !rec.status.is_redrivable() {
            return Err(ExecError::NotRedrivable(format!(
                "Execution is {}; only FAILED, TIMED_OUT and ABORTED executions can be redriven",
                rec.status
            )));
        }
        let bytes = match g.ended.remove(arn) {
            Some((_, Some(bytes))) => bytes,
            _ => match self.store.snapshot(rec.id)? {
                Some(b) => b.to_vec(),
                None => {
                    return Err(ExecError::NotRedrivable(
                        "the execution's final state was not kept".into(),
                    ))
                }
            },
        };
        let machine = self.machine(&rec.sm_name, rec.revision)?;
        let input = serde_json::from_str(&rec.input).map_err(StoreError::from)?;
        let mut ex = serde_json::from_slice::<Execution>(&bytes)
            .map_err(StoreError::from)?
            .restore(machine, input);
        let cmds = ex
            .redrive(now)
            .ok_or_else(|| ExecError::NotRedrivable("the execution cannot be redriven".into()))?;
        let id = rec.id;
        let mut rec = rec;
        rec.redrive_count = ex.redrive_count();
        rec.redrive_ms = Some(now);
        self.go_live(id, ex, rec);
        Ok(self.step(id, cmds, now, g))
    }

    pub(super) fn fire_timer(&mut self, at: i64, id: u64, token: u64, g: &mut Group) {
        g.batch.remove(key::timer(at, id, token));
        if self.timer_at.get(&(id, token)) == Some(&at) {
            self.timer_at.remove(&(id, token));
            let now = self.cfg.clock.now_ms();
            self.feed(id, Event::TimerFired { token }, now, g);
        }
    }

    /// Persists one execution's step into the group: history, commands,
    /// record and snapshot.
    pub(super) fn step(&mut self, id: u64, cmds: Vec<Command>, now: i64, g: &mut Group) -> ExecutionRecord {
        self.stats.steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(live) = self.live.get_mut(&id) else {
            return ExecutionRecord::default_for(id);
        };
        // A step's history events go under one key (the first event's id):
        // fewer, larger writes.
        let events = live.ex.drain_history();
        // Events serialize to exactly the bytes of `to_json`, without
        // building each one's JSON object first.
        if let Some(first) = events.first() {
            g.batch.insert(key::history(id, first.id), to_vec(&events));
            // Kept for subscribers whether or not one listens now: one may
            // subscribe before the commit (and read the store before it).
            g.published.push((live.rec.arn.clone(), events));
        }
        for c in cmds {
            match c {
                Command::InvokeTask(inv) => self.invoke(id, *inv, g),
                Command::CancelTask { token, timed_out } => self.cancel_task(id, token, timed_out, g),
                Command::StartTimer { token, fire_at_ms } => {
                    g.batch.insert(key::timer(fire_at_ms, id, token), b"");
                    self.timer_at.insert((id, token), fire_at_ms);
                    g.effects.push(Effect::Timer(fire_at_ms, id, token));
                }
                Command::CancelTimer { token } => {
                    if let Some(at) = self.timer_at.remove(&(id, token)) {
                        g.batch.remove(key::timer(at, id, token));
                        self.timers.remove(&(at, id, token));
                    }
                }
                Command::StartMapRun(req) => self.start_map_run(id, *req, now, g),
                Command::AbortMapRun { token } => self.abort_map_run(id, token, now, g),
            }
        }
        let Some(live) = self.live.get_mut(&id) else {
            return ExecutionRecord::default_for(id);
        };
        let rec = &mut live.rec;
        let ended = match live.ex.status() {
            Status::Running => None,
            Status::Succeeded(v) => {
                rec.output = Some(v.to_string());
                Some(ExecutionStatus::Succeeded)
            }
            Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
                rec.error = (!e.error.is_empty()).then(|| e.error.clone());
                rec.cause = (!e.cause.is_empty()).then(|| e.cause.clone());
                Some(match live.ex.status() {
                    Status::Failed(_) => ExecutionStatus::Failed,
                    Status::TimedOut(_) => ExecutionStatus::TimedOut,
                    _ => ExecutionStatus::Aborted,
                })
            }
        };
        match ended {
            Some(status) => {
                rec.status = status;
                rec.stop_ms = Some(now);
            }
            None => {
                rec.status = ExecutionStatus::Running;
                rec.output = None;
                rec.error = None;
                rec.cause = None;
                rec.stop_ms = None;
            }
        }
        if ended.is_some() || std::mem::take(&mut live.dirty) {
            g.batch.insert(key::execution(id), to_vec(&*rec));
        }
        let out = rec.clone();
        // A running execution is snapshotted once per group, however many
        // steps it took in it (see `run`). The snapshot stays after a
        // failure so the execution can be redriven.
        if ended.is_none() {
            g.dirty.insert(id);
            return out;
        }
        g.dirty.remove(&id);
        let live = self.live.remove(&id).expect("present above");
        self.by_arn.remove(&out.arn);
        for t in &live.timed_out_tokens {
            g.batch.remove(key::token(t));
        }
        // An ended execution's snapshot is kept for a redrive; one that
        // cannot be serialized is dropped (the execution cannot be redriven).
        // A Map Run's child is not redriven on its own: nothing to keep.
        let snapshot = match live.ex.status() {
            Status::Succeeded(_) => None,
            _ if out.map_run.is_some() => None,
            _ => serde_json::to_vec(&live.ex).ok(),
        };
        match &snapshot {
            Some(bytes) => g.batch.insert(key::snapshot(id), bytes.clone()),
            None => g.batch.remove(key::snapshot(id)),
        }
        g.ended.insert(out.arn.clone(), (out.clone(), snapshot));
        self.map_child_ended(&out, g);
        out
    }
}

impl ExecutionRecord {
    fn default_for(id: u64) -> ExecutionRecord {
        ExecutionRecord {
            id,
            arn: String::new(),
            name: String::new(),
            sm_arn: String::new(),
            sm_name: String::new(),
            revision: 0,
            test_case: None,
            status: ExecutionStatus::Aborted,
            input: String::new(),
            output: None,
            error: None,
            cause: None,
            start_ms: 0,
            stop_ms: None,
            redrive_count: 0,
            redrive_ms: None,
            map_run: None,
        }
    }
}
