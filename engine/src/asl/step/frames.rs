//! Frames: running a state list until it blocks, entering and leaving
//! states, ending frames (into their Parallel/Map parent or the execution)
//! and cancelling them.

use super::{
    check_len, check_size, state_events, too_deep, within_depth, Children, Execution, Flow, Frame, FrameId, Parent,
    Pending, Phase, Status,
};
use crate::asl::error::StateError;
use crate::asl::history::{Details, Payload};
use crate::asl::model::{Kind, StateId};
use serde_json::Value;

impl Execution {
    pub(super) fn new_frame(&mut self, state: StateId, input: Value, parent: Parent, last_event: u64) -> FrameId {
        let f = Frame {
            state,
            input,
            parent,
            phase: Phase::Ready,
            retries: Vec::new(),
            retry_count: 0,
            entered_ms: self.now,
            entered_event: 0,
            last_event,
            retrying: false,
            input_payload: None,
            entered_payload: None,
            vars: None,
            assigned: None,
            pending_vars: None,
        };
        match self.free.pop() {
            Some(id) => {
                self.frames[id as usize] = Some(f);
                id
            }
            None => {
                self.frames.push(Some(f));
                (self.frames.len() - 1) as FrameId
            }
        }
    }

    pub(super) fn take_frame(&mut self, fid: FrameId) -> Option<Frame> {
        self.frames.get_mut(fid as usize).and_then(Option::take)
    }

    pub(super) fn put_frame(&mut self, fid: FrameId, f: Frame) {
        self.frames[fid as usize] = Some(f);
    }

    /// Runs a frame's states until it blocks or ends.
    pub(super) fn run_frame(&mut self, fid: FrameId) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        loop {
            let flow = match self.run_state(fid, &mut f) {
                Ok(flow) => flow,
                Err(e) => self.state_error(fid, &mut f, e),
            };
            match flow {
                Flow::Continue if self.budget == 0 => {
                    // Out of budget: the frame waits at the back of the
                    // queue (it had its turn; its siblings go first) for
                    // the step that resumes the run.
                    self.put_frame(fid, f);
                    self.ready.push_back(fid);
                    return;
                }
                Flow::Continue => continue,
                Flow::Blocked => {
                    self.put_frame(fid, f);
                    return;
                }
                Flow::Ended(r) => {
                    self.free.push(fid);
                    self.frame_ended(f, r);
                    return;
                }
            }
        }
    }

    /// Enters the frame's current state and runs it: one function per kind.
    fn run_state(&mut self, fid: FrameId, f: &mut Frame) -> Result<Flow, StateError> {
        if !matches!(f.phase, Phase::Ready) {
            return Ok(Flow::Blocked);
        }
        self.enter(f);
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        if let Some(j) = &st.jsonata {
            match &st.kind {
                Kind::Pass { .. } => return self.run_passthrough_jsonata(f, j, st.next),
                Kind::Succeed => return self.run_passthrough_jsonata(f, j, None),
                Kind::Choice { choices, default } => return self.run_choice_jsonata(f, st, j, choices, *default),
                Kind::Fail { error, cause } => {
                    let e = self.jstring(f, error.as_ref(), "Error")?;
                    let c = self.jstring(f, cause.as_ref(), "Cause")?;
                    return Ok(Flow::Ended(Err(StateError::new(e, c))));
                }
                _ => {}
            }
        }
        match &st.kind {
            Kind::Pass { result } => self.run_pass(f, st, result.as_ref()),
            Kind::Choice { choices, default } => self.run_choice(f, st, choices, *default),
            Kind::Succeed => self.run_succeed(f, st),
            Kind::Fail { error, cause } => self.run_fail(f, error.as_ref(), cause.as_ref()),
            Kind::Wait(spec) => self.run_wait(fid, f, st, spec),
            Kind::Task(spec) => self.run_task(fid, f, st, spec),
            Kind::Parallel { branches } => self.run_parallel(fid, f, st, branches),
            Kind::Map(spec) => self.run_map(fid, f, st, spec),
        }
    }

    fn enter(&mut self, f: &mut Frame) {
        self.transitions += 1;
        // Every state entered counts, Map and Parallel states included: a
        // loop through them alone uses up the budget too.
        self.budget = self.budget.saturating_sub(1);
        f.pending_vars = None;
        f.assigned = None;
        f.entered_ms = self.now;
        let input_payload = f.input_payload.take();
        f.entered_payload = None;
        if f.retrying {
            f.retrying = false;
            return;
        }
        f.retries.clear();
        f.retry_count = 0;
        if self.opts.history {
            let st = self.machine.state(f.state);
            let ty = state_events(&st.kind).0;
            let name = st.name.clone();
            let input = match input_payload {
                Some(p) => p,
                None => self.payload(&f.input),
            };
            f.entered_payload = Some(input.clone());
            let d = Details::state_entered(name, input);
            f.last_event = self.record(ty, f.last_event, Some(("stateEnteredEventDetails", d)));
        }
        f.entered_event = f.last_event;
    }

    /// Finishes a state with `output`: StateExited, then Next or End.
    pub(super) fn exit(&mut self, f: &mut Frame, output: Value, next: Option<StateId>) -> Result<Flow, StateError> {
        self.exit_with(f, output, next, None)
    }

    /// [`Execution::exit`] for a state whose output is its input, unchanged
    /// (Choice, Succeed and a plain Pass, with `InputPath` and `OutputPath`
    /// `$`): with history, the input's serialization, made when the state
    /// was entered, serves its exit too. The size and depth checks are the
    /// same as for any output.
    pub(super) fn exit_unchanged(
        &mut self,
        f: &mut Frame,
        output: Value,
        next: Option<StateId>,
    ) -> Result<Flow, StateError> {
        // The callers moved the input out of the frame: should the state's
        // variables not fit, it goes back, for a retry, catcher or redrive.
        if let Some(vars) = f.pending_vars.take() {
            if let Err(e) = self.set_vars(f, *vars) {
                f.input = output;
                return Err(e);
            }
        }
        let kept = f.entered_payload.take();
        self.exit_with(f, output, next, kept)
    }

    fn exit_with(
        &mut self,
        f: &mut Frame,
        output: Value,
        next: Option<StateId>,
        serialized: Option<Payload>,
    ) -> Result<Flow, StateError> {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let what = || format!("The state/task '{}' returned a result", st.name);
        // With history, the output is serialized once: for the size check,
        // StateExited, and the next state's StateEntered (or
        // ExecutionSucceeded).
        let mut payload = None;
        if !self.opts.history {
            check_size(&output, what)?;
        } else {
            let p = match serialized {
                Some(p) => {
                    if !within_depth(&output, 0) {
                        return Err(too_deep(what));
                    }
                    check_len(p.len(), what)?;
                    p
                }
                None => self.checked_payload(&output, what)?,
            };
            payload = Some(p);
        }
        // The output is within the limits: the state's variables take effect
        // as it exits.
        if let Some(vars) = f.pending_vars.take() {
            self.set_vars(f, *vars)?;
        }
        if let Some(p) = &payload {
            let ty = state_events(&st.kind).1;
            let d = match f.assigned.take() {
                None => Details::state_exited(st.name.clone(), p.clone()),
                Some(vars) => Details::state_exited_assigning(&st.name, p, vars.into_vec()),
            };
            f.last_event = self.record(ty, f.last_event, Some(("stateExitedEventDetails", d)));
        }
        match next {
            Some(n) => {
                f.state = n;
                f.input = output;
                f.input_payload = payload;
                f.phase = Phase::Ready;
                Ok(Flow::Continue)
            }
            None => {
                if let Parent::Top = f.parent {
                    self.final_output = payload;
                }
                Ok(Flow::Ended(Ok(output)))
            }
        }
    }

    /// Puts a frame back according to how its state went on.
    pub(super) fn after(&mut self, fid: FrameId, f: Frame, flow: Flow) {
        match flow {
            Flow::Continue => {
                self.put_frame(fid, f);
                self.ready.push_back(fid);
            }
            Flow::Blocked => self.put_frame(fid, f),
            Flow::Ended(r) => {
                self.free.push(fid);
                self.frame_ended(f, r);
            }
        }
    }

    /// ResultSelector, ResultPath and OutputPath on a result, then exit.
    pub(super) fn apply_result(&mut self, f: &mut Frame, result: Value) -> Result<Flow, StateError> {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        if let Some(j) = &st.jsonata {
            return self.apply_result_jsonata(f, st, j, result);
        }
        let result = match &st.result_selector {
            Some(sel) => sel.eval(&self.scope(f, &result, Default::default()))?,
            None => result,
        };
        // `$` in `Assign` is the result, after ResultSelector.
        f.pending_vars = self.path_assign(f, super::states::own_assign(st), &result)?;
        let output = Self::apply_result_path(&st.result_path, &f.input, result)?;
        let output = self.apply_output_path(st, f, output)?;
        self.exit(f, output, st.next)
    }

    /// A frame ended: the execution ends, or its Parallel/Map parent learns.
    pub(super) fn frame_ended(&mut self, mut f: Frame, r: Result<Value, StateError>) {
        if let Parent::Child { .. } = f.parent {
            self.drop_vars(&mut f);
        }
        match f.parent {
            Parent::Top => match r {
                Ok(v) => self.finish(Status::Succeeded(v)),
                Err(e) => {
                    self.redrive_point = Some((f.state, f.input));
                    self.redrive_vars = f.vars.take();
                    self.finish(Status::Failed(e))
                }
            },
            Parent::Child { frame: pid, slot } => self.child_ended(pid, slot, f.last_event, r),
        }
    }

    fn child_ended(&mut self, pid: FrameId, slot: u32, last_event: u64, r: Result<Value, StateError>) {
        let Some(mut p) = self.take_frame(pid) else {
            return;
        };
        let Phase::Children(mut ch) = std::mem::replace(&mut p.phase, Phase::Ready) else {
            self.put_frame(pid, p);
            return;
        };
        ch.running -= 1;
        let machine = self.machine.clone();
        let name = machine.state(p.state).name.clone();
        let flow = match r {
            Ok(v) => {
                if ch.is_map {
                    let d = self.opts.history.then(|| {
                        (
                            "mapIterationSucceededEventDetails",
                            Details::map_iteration(name.clone(), slot),
                        )
                    });
                    p.last_event = self.record("MapIterationSucceeded", last_event, d);
                }
                ch.results[slot as usize] = v;
                if let Some(d) = ch.done.get_mut(slot as usize) {
                    *d = true;
                }
                ch.remaining -= 1;
                if ch.remaining == 0 {
                    let results = std::mem::take(&mut ch.results);
                    match self.children_done(&mut p, results) {
                        Ok(flow) => flow,
                        Err(e) => self.state_error(pid, &mut p, e),
                    }
                } else {
                    self.spawn_items(pid, &mut p, &mut ch);
                    p.phase = Phase::Children(ch);
                    Flow::Blocked
                }
            }
            Err(e) => {
                if ch.is_map {
                    let d = self.opts.history.then(|| {
                        (
                            "mapIterationFailedEventDetails",
                            Details::map_iteration(name.clone(), slot),
                        )
                    });
                    p.last_event = self.record("MapIterationFailed", last_event, d);
                }
                self.cancel_children(pid, ch.is_map.then_some(&*name));
                if ch.is_map && matches!(p.parent, Parent::Top) {
                    // A redrive reruns only the iterations that did not succeed.
                    let results = std::mem::take(&mut ch.results)
                        .into_iter()
                        .zip(ch.done.iter())
                        .map(|(v, d)| d.then_some(v))
                        .collect();
                    self.redrive_map = Some(Box::new(super::RedriveMap {
                        state: p.state,
                        results,
                        map_run: None,
                    }));
                }
                self.state_error(pid, &mut p, e)
            }
        };
        match flow {
            Flow::Blocked => self.put_frame(pid, p),
            Flow::Continue => {
                self.put_frame(pid, p);
                self.ready.push_back(pid);
            }
            Flow::Ended(r) => {
                self.free.push(pid);
                self.frame_ended(p, r);
            }
        }
    }

    /// All children of a Parallel/Map finished: apply the result like a task's.
    pub(super) fn children_done(&mut self, f: &mut Frame, results: Vec<Value>) -> Result<Flow, StateError> {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let ty = if matches!(st.kind, Kind::Map(_)) {
            "MapStateSucceeded"
        } else {
            "ParallelStateSucceeded"
        };
        f.last_event = self.record(ty, f.last_event, None);
        self.apply_result(f, Value::Array(results))
    }

    /// Cancels every running child of `parent` (a scan of all frames: this
    /// only happens when a branch or iteration fails).
    pub(super) fn cancel_children(&mut self, parent: FrameId, map_name: Option<&str>) {
        let children: Vec<FrameId> = self
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f, Some(Frame { parent: Parent::Child { frame, .. }, .. }) if *frame == parent))
            .map(|(i, _)| i as FrameId)
            .collect();
        for c in children {
            self.cancel_frame(c, map_name);
        }
    }

    /// Removes a frame and everything below it, cancelling its tasks (each
    /// recorded as `TaskStateAborted`) and timers.
    fn cancel_frame(&mut self, fid: FrameId, map_name: Option<&str>) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        self.drop_vars(&mut f);
        self.free.push(fid);
        self.ready.retain(|r| *r != fid);
        let mut tokens: Vec<(u64, Pending)> = self
            .pending
            .iter()
            .filter(|(_, (id, _))| *id == fid)
            .map(|(t, (_, k))| (*t, *k))
            .collect();
        tokens.sort_unstable_by_key(|t| t.0);
        for (t, k) in tokens {
            self.pending.remove(&t);
            self.out.push(match k {
                Pending::Task => Command::CancelTask {
                    token: t,
                    timed_out: false,
                },
                Pending::MapRun => Command::AbortMapRun { token: t },
                _ => Command::CancelTimer { token: t },
            });
        }
        match f.phase {
            Phase::Task { .. } => {
                f.last_event = self.record("TaskStateAborted", f.last_event, None);
            }
            Phase::Waiting { .. } => {
                f.last_event = self.record("WaitStateAborted", f.last_event, None);
            }
            Phase::MapRun { .. } => {
                f.last_event = self.record("MapRunAborted", f.last_event, None);
                f.last_event = self.record("MapStateAborted", f.last_event, None);
            }
            Phase::Reading { .. } | Phase::Writing { .. } => {
                f.last_event = self.record("MapStateAborted", f.last_event, None);
            }
            Phase::Children(ref ch) => {
                let machine = self.machine.clone();
                let name = machine.state(f.state).name.clone();
                let is_map = ch.is_map;
                self.cancel_children(fid, is_map.then_some(&*name));
                let ty = if is_map {
                    "MapStateAborted"
                } else {
                    "ParallelStateAborted"
                };
                f.last_event = self.record(ty, f.last_event, None);
            }
            _ => {}
        }
        if let (Some(name), Parent::Child { slot, .. }) = (map_name, f.parent) {
            let d = self.opts.history.then(|| {
                (
                    "mapIterationAbortedEventDetails",
                    Details::map_iteration(name.into(), slot),
                )
            });
            self.record("MapIterationAborted", f.last_event, d);
        }
    }

    pub(super) fn cancel_timer(&mut self, token: Option<u64>) {
        if let Some(t) = token {
            if self.pending.remove(&t).is_some() {
                self.out.push(Command::CancelTimer { token: t });
            }
        }
    }
}

use super::Command;

impl Children {
    /// A Parallel state's bookkeeping for `n` branches, all running.
    pub(super) fn branches(n: usize) -> Children {
        Children {
            is_map: false,
            results: vec![Value::Null; n],
            pending_items: Default::default(),
            running: n,
            remaining: n,
            max_concurrency: 0,
            done: Vec::new(),
        }
    }
}
