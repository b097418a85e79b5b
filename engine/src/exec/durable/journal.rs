//! Code workflows' journals in the executor: entries are written in the
//! group commit, with a `HostCallRecorded` history event, and the guest is
//! answered only after the commit. Also the executor's side of
//! [`Durable`]: child executions for workflows.

use super::{Actor, ExecError, Group, Msg, StartRequest};
use crate::asl::{Event, StateError};
use crate::store::{key, ExecutionStatus, Store, TokenEntry};
use crate::tasks::workflow::{ChildStatus, Durable, DurableFuture, JournalAt, CONFLICT};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// A journal append waiting for its commit.
pub(super) type JournalReply = oneshot::Sender<Result<(), String>>;

/// Whether a Task's resource is a code workflow's (whose journal goes with
/// the task).
pub(super) fn is_workflow(resource: &str) -> bool {
    resource.starts_with("arn:aslan:states:::workflow:")
}

impl Actor {
    /// Writes a journal entry into the group, with its history event.
    pub(super) fn journal(
        &mut self,
        at: JournalAt,
        entry: Vec<u8>,
        note: Value,
        callback: Option<String>,
        g: &mut Group,
    ) -> Result<(), String> {
        let id = *self
            .by_arn
            .get(&at.execution_arn)
            .ok_or_else(|| format!("the execution {} is not running", at.execution_arn))?;
        if !self.tasks.contains_key(&(id, at.token)) {
            return Err("the workflow's task is no longer running".into());
        }
        // An entry is written once: a second activation that raced this
        // one loses, and runs again from the journal.
        let k = key::journal(&at.execution_arn, at.token, at.seq);
        let taken = g.journal_keys.contains(&(at.execution_arn.clone(), at.token, at.seq))
            || self.store.contains(&k).unwrap_or(true)
            || (at.seq > 0
                && !g
                    .journal_keys
                    .contains(&(at.execution_arn.clone(), at.token, at.seq - 1))
                && !self
                    .store
                    .contains(&key::journal(&at.execution_arn, at.token, at.seq - 1))
                    .unwrap_or(false));
        if taken {
            return Err(format!("{CONFLICT}: journal entry {} is not the next one", at.seq));
        }
        g.journal_keys.insert((at.execution_arn.clone(), at.token, at.seq));
        g.batch.insert(k, entry);
        if let Some(cb) = callback {
            g.journal_callbacks
                .push((at.execution_arn.clone(), at.token, cb.clone()));
            let e = TokenEntry {
                id,
                token: at.token,
                timed_out: false,
                callback: true,
            };
            g.batch
                .insert(key::token(&cb), serde_json::to_vec(&e).expect("plain data"));
        }
        let now = self.cfg.clock.now_ms();
        self.feed(
            id,
            Event::TaskNote {
                token: at.token,
                details: note,
            },
            now,
            g,
        );
        Ok(())
    }

    /// Removes the journal of a task that ended, if it is a code
    /// workflow's, with its callback tokens and their answers.
    pub(super) fn drop_journal(&self, id: u64, token: u64, resource: &str, g: &mut Group) {
        if !is_workflow(resource) {
            return;
        }
        let Some(l) = self.live.get(&id) else { return };
        // What this group wrote is not in the store yet.
        let arn = l.rec.arn.clone();
        for (a, t, seq) in &g.journal_keys {
            if *a == arn && *t == token {
                g.batch.remove(key::journal(a, *t, *seq));
            }
        }
        for (a, t, cb) in &g.journal_callbacks {
            if *a == arn && *t == token {
                g.batch.remove(key::token(cb));
            }
        }
        for (k, v) in self.store.journal_entries(&arn, token) {
            if let Ok(e) = serde_json::from_slice::<Value>(&v) {
                if e["call"] == "durable.create-callback" {
                    if let Some(t) = e["outcome"]["ok"].as_str() {
                        g.batch.remove(key::token(t));
                        g.batch.remove(key::callback_answer(t));
                    }
                }
            }
            g.batch.remove(k);
        }
    }

    /// A code workflow's callback was answered: run its task again now,
    /// or as soon as the activation running now ends.
    pub(super) fn wake(&mut self, id: u64, token: u64, g: &mut Group) {
        let now = self.cfg.clock.now_ms();
        let Some(t) = self.tasks.get_mut(&(id, token)) else {
            return;
        };
        if t.running.is_some() {
            t.woken = true;
            return;
        }
        if let crate::store::TaskPhase::Polling { next_ms, .. } = &mut t.rec.phase {
            // In memory only: after a restart the stored time holds, and
            // the answer is found then.
            self.polls.remove(&(*next_ms, id, token));
            *next_ms = now;
            g.effects.push(super::Effect::Poll(now, id, token));
        }
    }
}

/// The executor's [`Durable`], bound to the registry when it starts.
pub(super) struct ExecDurable {
    pub(super) tx: mpsc::WeakSender<Msg>,
    pub(super) store: Store,
    pub(super) clock: std::sync::Arc<dyn crate::exec::Clock>,
}

fn runtime(e: impl std::fmt::Display) -> StateError {
    StateError::runtime(e.to_string())
}

impl Durable for ExecDurable {
    fn journal(&self, execution_arn: &str, token: u64) -> Result<Vec<Vec<u8>>, String> {
        self.store.journal(execution_arn, token).map_err(|e| e.to_string())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn callback_answer(&self, token: &str) -> Result<Option<Value>, String> {
        self.store.callback_answer(token).map_err(|e| e.to_string())
    }

    fn append(
        &self,
        at: JournalAt,
        entry: Vec<u8>,
        note: Value,
        callback: Option<String>,
    ) -> DurableFuture<Result<(), String>> {
        let tx = self.tx.clone();
        Box::pin(async move {
            let tx = tx.upgrade().ok_or("the executor has stopped")?;
            let (reply, rx) = oneshot::channel();
            tx.send(Msg::Journal {
                at,
                entry,
                note,
                callback,
                reply,
            })
            .await
            .map_err(|_| "the executor has stopped")?;
            rx.await
                .map_err(|_| "the commit failed or the executor stopped".to_string())?
        })
    }

    fn start_execution(
        &self,
        state_machine: String,
        name: String,
        input: String,
    ) -> DurableFuture<Result<String, StateError>> {
        let (tx, store) = (self.tx.clone(), self.store.clone());
        Box::pin(async move {
            let sm_name = match state_machine.split_once(":stateMachine:") {
                Some((_, n)) => n.to_string(),
                None => state_machine.clone(),
            };
            let machine = store.machine(&sm_name).map_err(runtime)?.ok_or_else(|| {
                StateError::new(
                    "StateMachineDoesNotExist",
                    format!("State Machine Does Not Exist: '{state_machine}'"),
                )
            })?;
            let tx = tx.upgrade().ok_or_else(|| runtime("the executor has stopped"))?;
            let (reply, rx) = oneshot::channel();
            let req = StartRequest {
                machine,
                name,
                input: input.clone(),
                test_case: None,
            };
            tx.send(Msg::Start(Box::new(req), reply))
                .await
                .map_err(|_| runtime("the executor has stopped"))?;
            match rx.await.map_err(|_| runtime("the executor has stopped"))? {
                Ok(rec) => Ok(rec.arn),
                // Started before a crash, and ended since: the same start.
                Err(ExecError::AlreadyExists(arn)) => match store.execution_by_arn(&arn).map_err(runtime)? {
                    Some(rec) if rec.input == input => Ok(arn),
                    _ => Err(StateError::new(
                        "ExecutionAlreadyExists",
                        format!("Execution Already Exists: '{arn}'"),
                    )),
                },
                Err(ExecError::InvalidInput(m)) => Err(StateError::new("InvalidExecutionInput", m)),
                Err(e) => Err(runtime(e)),
            }
        })
    }

    fn execution_status(&self, arn: String) -> DurableFuture<Result<ChildStatus, StateError>> {
        let store = self.store.clone();
        Box::pin(async move {
            let rec = store.execution_by_arn(&arn).map_err(runtime)?.ok_or_else(|| {
                StateError::new("ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'"))
            })?;
            Ok(match rec.status {
                ExecutionStatus::Running => ChildStatus::Running,
                ExecutionStatus::Succeeded => ChildStatus::Ended(Ok(rec
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null))),
                status => {
                    let default = match status {
                        ExecutionStatus::Aborted => "States.Aborted",
                        ExecutionStatus::TimedOut => crate::asl::error::TIMEOUT,
                        _ => crate::asl::error::TASK_FAILED,
                    };
                    ChildStatus::Ended(Err(StateError::new(
                        rec.error.unwrap_or_else(|| default.to_string()),
                        rec.cause.unwrap_or_default(),
                    )))
                }
            })
        })
    }
}
