//! Carrying tasks through their integrations: dispatch, outcomes, durable
//! poll steps, signals and cancellation.

use super::{to_vec, Actor, Effect, Group, Inflight, Msg};
use crate::asl::{Event, StateError, TaskInvocation};
use crate::store::{key, TaskPhase, TaskRecord, TokenEntry};
use crate::tasks::{
    catch_panics, forwarding_signals, CancellationToken, Outcome, Pattern, Resource, Signal, Task, TaskContext,
};
use tokio::sync::mpsc;

/// Whether a task's token is one a client can answer with SendTask*.
fn takes_callbacks(inv: &TaskInvocation) -> bool {
    matches!(
        Resource::parse(&inv.resource).pattern(),
        Pattern::WaitForTaskToken | Pattern::Activity
    )
}

impl Actor {
    /// Command::InvokeTask: record the task and, after the commit, start it
    /// (Activities are queued for a worker instead).
    pub(super) fn invoke(&mut self, id: u64, inv: TaskInvocation, g: &mut Group) {
        let token = inv.token;
        let resource = Resource::parse(&inv.resource);
        if takes_callbacks(&inv) {
            let entry = TokenEntry {
                id,
                token,
                timed_out: false,
                callback: false,
            };
            g.batch.insert(key::token(&inv.task_token), to_vec(&entry));
        }
        let phase = if resource.pattern() == Pattern::Activity {
            match self.store.activity(resource.action()) {
                Ok(Some(_)) => TaskPhase::Queued,
                _ => {
                    let e = StateError::new(
                        crate::asl::error::TASK_FAILED,
                        format!("Activity does not exist: '{}'", inv.resource),
                    );
                    g.deferred.push((id, Event::TaskFailed { token, error: e }));
                    g.batch.remove(key::token(&inv.task_token));
                    return;
                }
            }
        } else {
            TaskPhase::Dispatched
        };
        let rec = TaskRecord {
            invocation: inv,
            phase,
            started: false,
            owner: None,
        };
        g.batch.insert(key::task(id, token), to_vec(&rec));
        let queued = rec.phase == TaskPhase::Queued;
        self.tasks.insert((id, token), Inflight::new(rec));
        if queued {
            self.enqueue(resource.arn(), id, token, false, g);
        } else {
            g.effects.push(Effect::Start(id, token));
        }
    }

    /// Command::CancelTask: stop what runs, forget the task, and have its
    /// integration undo what it started (durably: a restart finishes it).
    pub(super) fn cancel_task(&mut self, id: u64, token: u64, timed_out: bool, g: &mut Group) {
        let Some(t) = self.tasks.remove(&(id, token)) else {
            return;
        };
        t.cancel.cancel();
        if let Some(h) = &t.running {
            h.abort();
        }
        g.batch.remove(key::task(id, token));
        self.drop_journal(id, token, &t.rec.invocation.resource, g);
        let inv = &t.rec.invocation;
        if takes_callbacks(inv) {
            if timed_out {
                let entry = TokenEntry {
                    id,
                    token,
                    timed_out: true,
                    callback: false,
                };
                g.batch.insert(key::token(&inv.task_token), to_vec(&entry));
                if let Some(l) = self.live.get_mut(&id) {
                    l.timed_out_tokens.push(inv.task_token.clone());
                }
            } else {
                g.batch.remove(key::token(&inv.task_token));
            }
        }
        let is_activity = Resource::parse(&inv.resource).pattern() == Pattern::Activity;
        if is_activity {
            self.forget_queued(&inv.resource);
        } else {
            let mut rec = t.rec;
            rec.owner = self
                .live
                .get(&id)
                .map(|l| (l.rec.arn.clone(), l.rec.sm_arn.clone(), l.ex.info().role_arn.clone()));
            g.batch.insert(key::cancel(id, token), to_vec(&rec));
            g.effects.push(Effect::Cancel(id, token, Box::new(rec)));
        }
    }

    /// Builds what an integration sees of a task.
    fn task_for(&self, id: u64, rec: &TaskRecord, cancel: CancellationToken) -> Option<Task> {
        let live = self.live.get(&id)?;
        let inv = rec.invocation.clone();
        let mut ctx = TaskContext::new(&live.rec.arn, &live.rec.sm_arn, &live.ex.info().role_arn, &inv);
        ctx.test_case = live.rec.test_case.clone();
        ctx.cancel = cancel;
        Some(Task {
            resource: Resource::parse(&inv.resource),
            invocation: inv,
            ctx,
        })
    }

    /// Runs a task's start (or, with `state`, one poll) in its own tokio
    /// task; the outcome comes back as [`Msg::Outcome`].
    fn spawn(&mut self, id: u64, token: u64, state: Option<serde_json::Value>) {
        let Some(t) = self.tasks.get(&(id, token)) else {
            return;
        };
        let Some(mut task) = self.task_for(id, &t.rec, t.cancel.clone()) else {
            return;
        };
        let t = self.tasks.get_mut(&(id, token)).expect("checked above");
        if let Some(old) = t.running.take() {
            old.abort();
        }
        t.epoch += 1;
        let epoch = t.epoch;
        let (sig_tx, sig_rx) = mpsc::unbounded_channel();
        task.ctx = task.ctx.with_signals(sig_tx);
        let registry = self.cfg.tasks.clone();
        let tx = self.tx.clone();
        let handle = tokio::spawn(async move {
            let fut = catch_panics(move || match state {
                None => registry.start(task),
                Some(s) => registry.poll(task, s),
            });
            let outcome = forwarding_signals(fut, sig_rx, |signal| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Msg::Signal { id, token, signal }).await;
                }
            })
            .await;
            let _ = tx
                .send(Msg::Outcome {
                    id,
                    token,
                    epoch,
                    outcome,
                })
                .await;
        });
        t.running = Some(handle.abort_handle());
    }

    pub(super) fn spawn_start(&mut self, id: u64, token: u64) {
        self.spawn(id, token, None);
    }

    /// A poll is due: run it (nothing to commit until its outcome).
    pub(super) fn poll_now(&mut self, id: u64, token: u64) {
        let Some(t) = self.tasks.get_mut(&(id, token)) else {
            return;
        };
        // One run of a task at a time: a poll due while one runs (a code
        // workflow woken by a callback) follows it.
        if t.running.is_some() {
            t.woken = true;
            return;
        }
        let state = match &t.rec.phase {
            TaskPhase::Polling { state, .. } => state.clone(),
            _ => return,
        };
        self.spawn(id, token, Some(state));
    }

    pub(super) fn spawn_cancel(&mut self, id: u64, token: u64, rec: TaskRecord) {
        let state = match &rec.phase {
            TaskPhase::Polling { state, .. } => Some(state.clone()),
            _ => None,
        };
        // The execution may have ended: its identity is in the record.
        let (exec, sm, role) = rec.owner.clone().unwrap_or_default();
        let inv = rec.invocation.clone();
        let ctx = TaskContext::new(&exec, &sm, &role, &inv);
        ctx.cancel.cancel();
        let task = Task {
            resource: Resource::parse(&inv.resource),
            ctx,
            invocation: inv,
        };
        self.spawn_cancel_task(id, token, task, state);
    }

    fn spawn_cancel_task(&self, id: u64, token: u64, task: Task, state: Option<serde_json::Value>) {
        let registry = self.cfg.tasks.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let fut = registry.cancel(task, state);
            let _ = tokio::spawn(fut).await;
            let _ = tx.send(Msg::CancelDone { id, token }).await;
        });
    }

    /// Records that a task has started, once.
    fn mark_started(&mut self, id: u64, token: u64, worker: Option<String>, now: i64, g: &mut Group) {
        let Some(t) = self.tasks.get_mut(&(id, token)) else {
            return;
        };
        if std::mem::replace(&mut t.rec.started, true) {
            return;
        }
        g.batch.insert(key::task(id, token), to_vec(&t.rec));
        self.feed(id, Event::TaskStarted { token, worker }, now, g);
    }

    pub(super) fn signal(&mut self, id: u64, token: u64, signal: Signal, now: i64, g: &mut Group) {
        if !self.tasks.contains_key(&(id, token)) {
            return;
        }
        match signal {
            Signal::Started => self.mark_started(id, token, None, now, g),
            // A heartbeat changes no record: the core re-arms its timer.
            Signal::Heartbeat => self.feed(id, Event::TaskHeartbeat { token }, now, g),
        }
    }

    /// The task ended for good (succeeded, failed, answered): forget it.
    pub(super) fn finish_task(&mut self, id: u64, token: u64, g: &mut Group) {
        if let Some(t) = self.tasks.remove(&(id, token)) {
            g.batch.remove(key::task(id, token));
            self.drop_journal(id, token, &t.rec.invocation.resource, g);
            if takes_callbacks(&t.rec.invocation) {
                g.batch.remove(key::token(&t.rec.invocation.task_token));
            }
        }
    }

    pub(super) fn outcome(&mut self, id: u64, token: u64, epoch: u64, outcome: Outcome, now: i64, g: &mut Group) {
        match self.tasks.get_mut(&(id, token)) {
            Some(t) if t.epoch == epoch => t.running = None,
            _ => return, // a stale or cancelled run
        }
        match outcome {
            Outcome::Succeeded(output) => {
                self.finish_task(id, token, g);
                self.feed(id, Event::TaskSucceeded { token, output }, now, g);
            }
            Outcome::Failed(error) => {
                self.finish_task(id, token, g);
                self.feed(id, Event::TaskFailed { token, error }, now, g);
            }
            Outcome::Poll { after_ms, state } => {
                let mut next_ms = now.saturating_add(after_ms.min(i64::MAX as u64 / 2) as i64);
                if let Some(t) = self.tasks.get_mut(&(id, token)) {
                    // Woken while this run went on (a callback's answer):
                    // run again at once.
                    if std::mem::take(&mut t.woken) {
                        next_ms = now;
                    }
                    t.rec.phase = TaskPhase::Polling { state, next_ms };
                    g.batch.insert(key::task(id, token), to_vec(&t.rec));
                    g.effects.push(Effect::Poll(next_ms, id, token));
                }
                self.mark_started(id, token, None, now, g);
            }
            Outcome::Parked => {
                if let Some(t) = self.tasks.get_mut(&(id, token)) {
                    t.rec.phase = TaskPhase::Parked;
                    g.batch.insert(key::task(id, token), to_vec(&t.rec));
                }
                self.mark_started(id, token, None, now, g);
            }
        }
    }
}
