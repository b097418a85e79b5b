//! The host side of the `durable` interface: a code workflow's clock,
//! randomness, sleeps and child executions, every one journaled (see
//! [`super::journal`]).
//!
//! A call that waits (a sleep, an await) is journaled when it is first
//! made, so a replay checks it even while it waits. If it must wait, the
//! activation ends with [`Suspend`]: the integration turns it into a
//! durable poll step, and the next activation replays the journal up to
//! the same call. Its completion is a second entry
//! ([`COMPLETED`](journal::COMPLETED)): a sleep's when the poll that wakes
//! it runs, an await's when the execution has ended.

use super::bindings::durable;
use super::bindings::types::TaskError;
use super::journal::{self, JournalFailed, Replay, Suspend};
use super::store::GuestData;
use crate::tasks::workflow::ChildStatus;
use serde_json::{json, Value};

/// The first wait between two looks at a running execution; it doubles
/// per look up to [`MAX_AWAIT_POLL_MS`].
pub const FIRST_AWAIT_POLL_MS: u64 = 100;
/// See [`FIRST_AWAIT_POLL_MS`].
pub const MAX_AWAIT_POLL_MS: u64 = 5_000;
/// How often a workflow waiting for a callback looks for its answer when
/// nothing woke it (an answer wakes it at once).
pub const CALLBACK_POLL_MS: u64 = 60_000;
/// The longest sleep (one year).
pub const MAX_SLEEP_MS: u64 = 365 * 24 * 3_600_000;
/// The most executions one `await-any` may wait for.
pub const MAX_AWAIT_ANY: usize = 1_000;

fn not_a_workflow() -> wasmtime::Error {
    wasmtime::Error::msg("the durable interface is only for code workflows")
}

fn await_backoff(polls: u32) -> u64 {
    FIRST_AWAIT_POLL_MS
        .saturating_mul(1u64 << polls.min(16))
        .min(MAX_AWAIT_POLL_MS)
}

fn task_error(e: crate::asl::StateError) -> TaskError {
    TaskError {
        error: e.error,
        cause: e.cause,
    }
}

/// The state machine's name in a state machine or execution ARN, or the
/// name itself.
fn machine_name(s: &str) -> &str {
    if let Some((_, rest)) = s.split_once(":stateMachine:") {
        return rest.split(':').next().unwrap_or(rest);
    }
    if let Some((_, rest)) = s.split_once(":execution:") {
        return rest.split(':').next().unwrap_or(rest);
    }
    s
}

impl GuestData {
    /// The allowlist's check of a live start or await (a refusal traps).
    fn check_machine(&self, state_machine_or_arn: &str) -> wasmtime::Result<()> {
        let name = machine_name(state_machine_or_arn);
        // A Distributed Map's children are named MACHINE/LABEL.
        let name = name.split('/').next().unwrap_or(name);
        Ok(self.caps.check_state_machine(&self.module, name)?)
    }

    fn replay(&mut self) -> wasmtime::Result<&mut Replay> {
        self.journal.as_deref_mut().ok_or_else(not_a_workflow)
    }

    /// A value-returning call: replayed, or made (`make`) and journaled.
    async fn recorded(&mut self, call: &str, request: Value, make: impl FnOnce() -> Value) -> wasmtime::Result<Value> {
        let j = self.replay()?;
        if let Some(o) = j.next(call, &request)? {
            return Ok(o["ok"].clone());
        }
        let o = j.record(call, &request, journal::ok(make())).await?;
        Ok(o["ok"].clone())
    }

    /// Waits for the first of `arns` to end: its outcome (with its
    /// `index`), journaled; or a suspension until the next look.
    async fn look(&mut self, call: &str, request: &Value, arns: &[String]) -> wasmtime::Result<Value> {
        let j = self.replay()?;
        let (seq, done) = j.wait_call(call, request).await?;
        if let Some(o) = done {
            return Ok(o);
        }
        let durable = j.durable().clone();
        for arn in arns {
            self.check_machine(arn)?;
        }
        for (i, arn) in arns.iter().enumerate() {
            let t = std::time::Instant::now();
            let status = durable.execution_status(arn.clone()).await;
            self.replay()?.waited += t.elapsed();
            let result = match status {
                Ok(ChildStatus::Running) => continue,
                Ok(ChildStatus::Ended(r)) => r.map_err(task_error),
                Err(e) => Err(task_error(e)),
            };
            let mut o = journal::outcome::<Value>(result);
            o["index"] = json!(i);
            return self.replay()?.complete(seq, o).await;
        }
        let j = self.replay()?;
        let polls = if j.wake.awaiting == Some(seq) { j.wake.polls } else { 0 };
        Err(Suspend {
            after_ms: await_backoff(polls),
            state: json!({ "awaiting": seq, "polls": polls + 1 }),
        }
        .into())
    }
}

fn result_of(o: &Value) -> Result<String, TaskError> {
    match o.get("err") {
        Some(_) => journal::string_result(o),
        None => Ok(o["ok"].to_string()),
    }
}

impl durable::Host for GuestData {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        let v = self
            .recorded("durable.now-ms", json!({}), || {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                json!(ms)
            })
            .await?;
        Ok(v.as_u64().unwrap_or(0))
    }

    async fn random_u64(&mut self) -> wasmtime::Result<u64> {
        let v = self
            .recorded("durable.random-u64", json!({}), || {
                let b = uuid::Uuid::new_v4();
                json!(u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes")))
            })
            .await?;
        Ok(v.as_u64().unwrap_or(0))
    }

    async fn uuid(&mut self) -> wasmtime::Result<String> {
        let v = self
            .recorded("durable.uuid", json!({}), || json!(uuid::Uuid::new_v4().to_string()))
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    async fn sleep_ms(&mut self, ms: u64) -> wasmtime::Result<()> {
        const CALL: &str = "durable.sleep-ms";
        let ms = ms.min(MAX_SLEEP_MS);
        let request = json!({ "ms": ms });
        let j = self.replay()?;
        let seq = j.cursor();
        // The sleep's first entry holds when it ends, on the executor's
        // clock: an activation before then (a restart, a callback's
        // answer) sleeps again for what is left.
        let until = match j.next(CALL, &request)? {
            Some(o) => o["ok"]["until"].as_i64().unwrap_or(0),
            None => {
                let until = j.durable().now_ms().saturating_add(ms as i64);
                j.record(CALL, &request, journal::ok(json!({ "until": until }))).await?;
                until
            }
        };
        if j.next(journal::COMPLETED, &json!({ "of": seq }))?.is_some() {
            return Ok(());
        }
        let now = j.durable().now_ms();
        if now >= until {
            j.complete(seq, journal::ok(Value::Null)).await?;
            return Ok(());
        }
        Err(Suspend {
            after_ms: (until - now) as u64,
            state: json!({ "sleeping": seq }),
        }
        .into())
    }

    async fn start_execution(
        &mut self,
        state_machine: String,
        input: String,
    ) -> wasmtime::Result<Result<String, TaskError>> {
        const CALL: &str = "durable.start-execution";
        let request = json!({ "stateMachine": state_machine, "input": input });
        let j = self.replay()?;
        if let Some(o) = j.next(CALL, &request)? {
            return Ok(journal::string_result(&o));
        }
        self.check_machine(&state_machine)?;
        let j = self.replay()?;
        let r = match serde_json::from_str::<Value>(&input) {
            Err(e) => Err(TaskError {
                error: crate::asl::error::RUNTIME.into(),
                cause: format!("the input of start-execution is not JSON: {e}"),
            }),
            Ok(_) => {
                // Named after this invocation and the journal position: a
                // start repeated after a crash finds the same execution.
                let name = format!("{}-{}", j.at.key, j.cursor());
                let durable = j.durable().clone();
                let t = std::time::Instant::now();
                let r = durable.start_execution(state_machine, name, input).await;
                self.replay()?.waited += t.elapsed();
                r.map_err(task_error)
            }
        };
        let j = self.replay()?;
        let o = j.record(CALL, &request, journal::outcome(r)).await?;
        Ok(journal::string_result(&o))
    }

    async fn await_execution(&mut self, execution_arn: String) -> wasmtime::Result<Result<String, TaskError>> {
        let request = json!({ "executionArn": execution_arn });
        let o = self
            .look(
                "durable.await-execution",
                &request,
                std::slice::from_ref(&execution_arn),
            )
            .await?;
        Ok(result_of(&o))
    }

    async fn create_callback(&mut self) -> wasmtime::Result<String> {
        const CALL: &str = "durable.create-callback";
        let request = json!({});
        let j = self.replay()?;
        if let Some(o) = j.next(CALL, &request)? {
            return Ok(o["ok"].as_str().unwrap_or_default().to_string());
        }
        // 64 hex digits from the system's generator, as task tokens are.
        let mut token = String::with_capacity(64);
        for _ in 0..2 {
            crate::asl::push_hex(&mut token, uuid::Uuid::new_v4().as_bytes());
        }
        j.record_with(CALL, &request, journal::ok(json!(token)), Some(token.clone()))
            .await?;
        Ok(token)
    }

    async fn await_callback(&mut self, token: String) -> wasmtime::Result<Result<String, TaskError>> {
        const CALL: &str = "durable.await-callback";
        let request = json!({ "token": token });
        let j = self.replay()?;
        let (seq, done) = j.wait_call(CALL, &request).await?;
        if let Some(o) = done {
            return Ok(result_of(&o));
        }
        let answer = j.durable().callback_answer(&token).map_err(JournalFailed)?;
        if let Some(o) = answer {
            let o = j.complete(seq, o).await?;
            return Ok(result_of(&o));
        }
        // The answer wakes the workflow; this poll is only a fallback.
        let polls = if j.wake.awaiting == Some(seq) { j.wake.polls } else { 0 };
        Err(Suspend {
            after_ms: CALLBACK_POLL_MS,
            state: json!({ "awaiting": seq, "polls": polls + 1 }),
        }
        .into())
    }

    async fn await_any(&mut self, execution_arns: Vec<String>) -> wasmtime::Result<(u32, Result<String, TaskError>)> {
        if execution_arns.is_empty() || execution_arns.len() > MAX_AWAIT_ANY {
            return Err(wasmtime::Error::msg(format!(
                "await-any takes 1 to {MAX_AWAIT_ANY} executions, not {}",
                execution_arns.len()
            )));
        }
        let request = json!({ "executionArns": execution_arns });
        let o = self.look("durable.await-any", &request, &execution_arns).await?;
        let index = o["index"].as_u64().unwrap_or(0) as u32;
        Ok((index, result_of(&o)))
    }
}
