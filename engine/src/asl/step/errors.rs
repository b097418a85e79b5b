//! Retry and Catch.

use super::{Command, Execution, Flow, Frame, FrameId, Pending, Phase};
use crate::asl::error::{self, StateError};
use crate::asl::model::{errors_match, Kind, State};
use serde_json::json;

impl Execution {
    /// A state raised an error: Retry, then Catch, else the frame fails.
    /// A `States.Runtime` cause is prefixed, as AWS does, with the state's
    /// name and the id of the event it entered at.
    pub(super) fn state_error(&mut self, fid: FrameId, f: &mut Frame, e: StateError) -> Flow {
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let is_task = matches!(st.kind, Kind::Task(_));
        // The state's own `Assign` is not applied when it fails.
        f.pending_vars = None;
        f.assigned = None;
        if e.is_terminal() {
            let e = located(st, f, e);
            return self.state_failed(f, &st.kind, e);
        }
        if let Some(i) = st.retry.iter().position(|r| errors_match(&r.errors, &e.error, is_task)) {
            let r = &st.retry[i];
            if f.retries.len() < st.retry.len() {
                f.retries.resize(st.retry.len(), 0);
            }
            let used = f.retries[i];
            if (used as u64) < r.max_attempts {
                let mut delay = r.interval_seconds as f64 * 1000.0 * r.backoff_rate.powi(used as i32);
                if let Some(m) = r.max_delay_seconds {
                    delay = delay.min(m as f64 * 1000.0);
                }
                if r.full_jitter {
                    let rnd = self.random();
                    delay *= (rnd >> 11) as f64 / (1u64 << 53) as f64;
                }
                f.retries[i] += 1;
                f.retry_count += 1;
                f.retrying = true;
                let token = self.token();
                self.pending.insert(token, (fid, Pending::Backoff));
                f.phase = Phase::Backoff { token };
                self.out.push(Command::StartTimer {
                    token,
                    fire_at_ms: self.now + delay.min(1.0e15) as i64,
                });
                return Flow::Blocked;
            }
        }
        if let Some((i, c)) = st
            .catch
            .iter()
            .enumerate()
            .find(|(_, c)| errors_match(&c.errors, &e.error, is_task))
        {
            let err_out = json!({"Error": e.error, "Cause": e.cause});
            self.caught = Some(e);
            let output = if st.jsonata.is_some() {
                self.catch_output_jsonata(f, c, i, err_out)
            } else {
                // `$` in the catcher's `Assign` is the error output.
                self.path_assign(f, c.path_assign.as_ref(), &err_out).and_then(|vars| {
                    f.pending_vars = vars;
                    Self::apply_result_path(&c.result_path, &f.input, err_out)
                })
            };
            // A catcher that fails itself (its Output, Assign or
            // ResultPath, or the output's size) fails the state.
            return match output.and_then(|output| self.exit(f, output, Some(c.next))) {
                Ok(flow) => flow,
                Err(e2) => {
                    let e2 = located(st, f, e2);
                    self.state_failed(f, &st.kind, e2)
                }
            };
        }
        self.state_failed(f, &st.kind, e)
    }

    /// The state fails for good: a Map or Parallel records
    /// `MapStateFailed` or `ParallelStateFailed` first.
    fn state_failed(&mut self, f: &mut Frame, kind: &Kind, e: StateError) -> Flow {
        let ty = match kind {
            Kind::Map(_) => "MapStateFailed",
            Kind::Parallel { .. } => "ParallelStateFailed",
            _ => return Flow::Ended(Err(e)),
        };
        f.last_event = self.record(ty, f.last_event, None);
        Flow::Ended(Err(e))
    }
}

/// A `States.Runtime` error's cause names the state and the event it
/// entered at, as AWS words it.
fn located(st: &State, f: &Frame, mut e: StateError) -> StateError {
    if e.error == error::RUNTIME && !e.cause.starts_with("An error occurred while executing the state") {
        e.cause = format!(
            "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
            st.name, f.entered_event, e.cause
        );
    }
    e
}
