//! Task tokens and Activities: SendTaskSuccess / SendTaskFailure /
//! SendTaskHeartbeat, and GetActivityTask's workers.

use super::{to_vec, Actor, Group};
use crate::asl::error::PAYLOAD_LIMIT;
use crate::asl::{Event, StateError};
use crate::store::{key, TaskPhase};
use serde_json::Value;
use tokio::sync::oneshot;

/// A client's answer for a task token.
#[derive(Debug, Clone)]
pub enum TaskAnswer {
    /// SendTaskSuccess with its output (JSON text).
    Success(String),
    /// SendTaskFailure.
    Failure {
        /// `error`, if given.
        error: Option<String>,
        /// `cause`, if given.
        cause: Option<String>,
    },
    /// SendTaskHeartbeat.
    Heartbeat,
}

/// Why SendTask* was refused, named as AWS names the errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The token is not one this engine hands out.
    #[error("Invalid token")]
    InvalidToken,
    /// No running task has this token (it finished, or never existed).
    #[error("Task does not exist anymore")]
    TaskDoesNotExist,
    /// The task ran past its TimeoutSeconds or HeartbeatSeconds.
    #[error("Task Timed Out")]
    TaskTimedOut,
    /// The output is not JSON, or larger than 256 KiB.
    #[error("{0}")]
    InvalidOutput(String),
    /// The executor is shutting down, or its commit failed.
    #[error("the executor is shutting down")]
    Shutdown,
}

/// A task handed to an Activity worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityTask {
    /// The token to answer with.
    pub task_token: String,
    /// The task's input (JSON text).
    pub input: String,
}

/// Task tokens are 64 lowercase hex digits (see the core's generator).
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// SendTaskSuccess's output: JSON of at most [`PAYLOAD_LIMIT`] bytes.
fn parse_output(output: &str) -> Result<Value, CallbackError> {
    if output.len() > PAYLOAD_LIMIT {
        return Err(CallbackError::InvalidOutput(format!(
            "The output has a size of {} bytes, which exceeds the maximum of {PAYLOAD_LIMIT} bytes",
            output.len()
        )));
    }
    serde_json::from_str(output).map_err(|e| CallbackError::InvalidOutput(format!("Invalid Output: '{e}'")))
}

impl Actor {
    pub(super) fn answer(
        &mut self,
        task_token: &str,
        answer: TaskAnswer,
        now: i64,
        g: &mut Group,
    ) -> Result<(), CallbackError> {
        if !well_formed(task_token) {
            return Err(CallbackError::InvalidToken);
        }
        let entry = self
            .store
            .token_entry(task_token)
            .map_err(|_| CallbackError::Shutdown)?
            .ok_or(CallbackError::TaskDoesNotExist)?;
        if entry.timed_out {
            return Err(CallbackError::TaskTimedOut);
        }
        let (id, token) = (entry.id, entry.token);
        if entry.callback {
            return self.answer_callback(task_token, id, token, answer, now, g);
        }
        let alive = self
            .tasks
            .get(&(id, token))
            .is_some_and(|t| t.rec.invocation.task_token == task_token);
        if !alive || !self.live.get(&id).is_some_and(|l| l.ex.waits_on_task(token)) {
            return Err(CallbackError::TaskDoesNotExist);
        }
        let event = match answer {
            TaskAnswer::Heartbeat => Event::TaskHeartbeat { token },
            TaskAnswer::Success(output) => {
                let output = parse_output(&output)?;
                self.finish_task(id, token, g);
                Event::TaskSucceeded { token, output }
            }
            TaskAnswer::Failure { error, cause } => {
                self.finish_task(id, token, g);
                let error = StateError::new(error.unwrap_or_default(), cause.unwrap_or_default());
                Event::TaskFailed { token, error }
            }
        };
        self.feed(id, event, now, g);
        Ok(())
    }

    /// SendTask* for a code workflow's callback token: the answer is kept
    /// for the workflow (the token then answers no more), which runs again
    /// at once; a heartbeat resets its task's `HeartbeatSeconds`.
    fn answer_callback(
        &mut self,
        task_token: &str,
        id: u64,
        token: u64,
        answer: TaskAnswer,
        now: i64,
        g: &mut Group,
    ) -> Result<(), CallbackError> {
        if !self.tasks.contains_key(&(id, token))
            || !self.live.get(&id).is_some_and(|l| l.ex.waits_on_task(token))
            || g.answered.contains(task_token)
        {
            return Err(CallbackError::TaskDoesNotExist);
        }
        let stored = match answer {
            TaskAnswer::Heartbeat => {
                self.feed(id, Event::TaskHeartbeat { token }, now, g);
                return Ok(());
            }
            TaskAnswer::Success(output) => {
                let output = parse_output(&output)?;
                serde_json::json!({ "ok": output })
            }
            TaskAnswer::Failure { error, cause } => serde_json::json!({ "err": {
                "error": error.unwrap_or_default(),
                "cause": cause.unwrap_or_default(),
            }}),
        };
        g.answered.insert(task_token.to_string());
        g.batch.insert(key::callback_answer(task_token), to_vec(&stored));
        g.batch.remove(key::token(task_token));
        self.wake(id, token, g);
        Ok(())
    }

    /// GetActivityTask arrived: hand it the oldest queued task, or wait.
    pub(super) fn fetch(
        &mut self,
        activity_arn: String,
        worker: Option<String>,
        reply: oneshot::Sender<ActivityTask>,
        now: i64,
        g: &mut Group,
    ) {
        let waiting = self.waiters.entry(activity_arn.clone()).or_default();
        // Workers whose long poll ended are gone: the list holds live ones.
        waiting.retain(|(_, r)| !r.is_closed());
        waiting.push_back((worker, reply));
        self.match_activity(&activity_arn, now, g);
    }

    /// Queues an Activity task (at the front when it goes back after its
    /// worker left) and hands it out if a worker waits.
    pub(super) fn enqueue(&mut self, activity_arn: &str, id: u64, token: u64, front: bool, g: &mut Group) {
        let q = self.queues.entry(activity_arn.to_string()).or_default();
        if front {
            q.push_front((id, token));
        } else {
            q.push_back((id, token));
        }
        let now = self.cfg.clock.now_ms();
        self.match_activity(activity_arn, now, g);
    }

    /// Pairs waiting workers with queued tasks. A handed-out task is
    /// recorded (`Handed`, `ActivityStarted` with the worker's name) in this
    /// group; the worker gets it after the commit.
    fn match_activity(&mut self, arn: &str, now: i64, g: &mut Group) {
        loop {
            let Some(waiters) = self.waiters.get_mut(arn) else {
                return;
            };
            waiters.retain(|(_, r)| !r.is_closed());
            if waiters.is_empty() {
                self.waiters.remove(arn);
                return;
            }
            let Some(q) = self.queues.get_mut(arn) else { return };
            let next = loop {
                match q.pop_front() {
                    None => break None,
                    Some(k) => {
                        if self.tasks.get(&k).is_some_and(|t| t.rec.phase == TaskPhase::Queued) {
                            break Some(k);
                        }
                    }
                }
            };
            if q.is_empty() {
                self.queues.remove(arn);
                self.stale.remove(arn);
            }
            let Some((id, token)) = next else { return };
            let Some((worker, reply)) = self.waiters.get_mut(arn).and_then(|w| w.pop_front()) else {
                return;
            };
            let t = self.tasks.get_mut(&(id, token)).expect("checked above");
            t.rec.phase = TaskPhase::Handed;
            let task = super::ActivityTask {
                task_token: t.rec.invocation.task_token.clone(),
                input: t.rec.invocation.parameters.to_string(),
            };
            t.rec.started = true;
            g.batch.insert(key::task(id, token), to_vec(&t.rec));
            self.feed(id, Event::TaskStarted { token, worker }, now, g);
            g.handed.push((reply, task, (id, token)));
        }
    }

    /// A queued Activity task was cancelled. Its queue entry is skipped when
    /// reached; when such entries are half the queue, the queue is compacted,
    /// so cancelled tasks cost amortized O(1) and never pile up.
    pub(super) fn forget_queued(&mut self, activity_arn: &str) {
        let Some(q) = self.queues.get_mut(activity_arn) else {
            return;
        };
        let tasks = &self.tasks;
        let live = |k: &(u64, u64)| tasks.get(k).is_some_and(|t| t.rec.phase == TaskPhase::Queued);
        let stale = self.stale.entry(activity_arn.to_string()).or_default();
        *stale += 1;
        if *stale * 2 > q.len() {
            q.retain(live);
            *stale = 0;
        }
    }

    /// A worker left before its task reached it: queue the task again.
    pub(super) fn requeue_activity(&mut self, id: u64, token: u64, g: &mut Group) {
        let Some(t) = self.tasks.get_mut(&(id, token)) else {
            return;
        };
        if t.rec.phase != TaskPhase::Handed {
            return;
        }
        t.rec.phase = TaskPhase::Queued;
        g.batch.insert(key::task(id, token), to_vec(&t.rec));
        let arn = t.rec.invocation.resource.to_string();
        self.enqueue(&arn, id, token, true, g);
    }
}
