//! Pass, Choice, Succeed, Fail and Wait: the states that run without
//! waiting on the world (Wait only on a timer).

use super::{Command, Execution, Flow, Frame, FrameId, Pending, Phase};
use crate::asl::choice::{parse_timestamp, Rule};
use crate::asl::error::{self, StateError};
use crate::asl::model::{Dynamic, PathSpec, ResultPathSpec, State, StateId, WaitSpec};
use crate::asl::template::Template;
use serde_json::Value;
use std::borrow::Cow;

impl Execution {
    pub(super) fn run_pass(&mut self, f: &mut Frame, st: &State, result: Option<&Value>) -> Result<Flow, StateError> {
        let (r, vars) = {
            let eff = self.effective_input(st, f)?;
            let r = if let Some(r) = result {
                Some(r.clone())
            } else if let Some(p) = &st.parameters {
                Some(p.eval(&self.scope(f, &eff, Default::default()))?)
            } else {
                None
            };
            // `$` in `Assign` is the state's result: `Result` or
            // `Parameters`, else the effective input.
            let vars = self.path_assign(f, own_assign(st), r.as_ref().unwrap_or(&eff))?;
            let r = r.or_else(|| match eff {
                Cow::Owned(v) => Some(v),
                Cow::Borrowed(v) if !matches!(st.input_path, PathSpec::Root) => Some(v.clone()),
                Cow::Borrowed(_) => None,
            });
            (r, vars)
        };
        f.pending_vars = vars;
        // The input stays in the frame until the state has exited (a
        // redrive starts again from it), except where nothing can fail.
        let output = match r {
            // The state passes its input through untouched: its exit fails
            // only if the input itself is over the limits, which no retry
            // or redrive could mend, or if its variables do not fit, when
            // `exit_unchanged` puts the input back. So it is moved, not
            // copied.
            None if matches!(st.result_path, ResultPathSpec::Root | ResultPathSpec::Discard)
                && matches!(st.output_path, PathSpec::Root) =>
            {
                let input = std::mem::take(&mut f.input);
                return self.exit_unchanged(f, input, st.next);
            }
            None if matches!(st.result_path, ResultPathSpec::Root | ResultPathSpec::Discard) => f.input.clone(),
            None => Self::apply_result_path(&st.result_path, &f.input, f.input.clone())?,
            Some(r) => Self::apply_result_path(&st.result_path, &f.input, r)?,
        };
        let output = self.apply_output_path(st, f, output)?;
        self.exit(f, output, st.next)
    }

    pub(super) fn run_choice(
        &mut self,
        f: &mut Frame,
        st: &State,
        choices: &[(Rule, StateId)],
        default: Option<StateId>,
    ) -> Result<Flow, StateError> {
        let eff = self.effective_input(st, f)?;
        let matched = {
            let scope = self.scope(f, &eff, Default::default());
            let mut matched = None;
            for (i, (rule, target)) in choices.iter().enumerate() {
                if rule.eval(&scope)? {
                    matched = Some((i, *target));
                    break;
                }
            }
            matched
        };
        let next = matched.map(|(_, t)| t).or(default).ok_or_else(|| {
            StateError::new(
                error::NO_CHOICE_MATCHED,
                format!(
                    "No Choice Rules matched and no Default was specified in state '{}'",
                    st.name
                ),
            )
        })?;
        // A matching rule's `Assign`, or the state's own with `Default`;
        // `$` is the effective input.
        let assign = match (matched, &st.path_assign) {
            (Some((i, _)), Some(a)) => a.rules.get(i).and_then(Option::as_ref),
            (None, _) => own_assign(st),
            (Some(_), None) => None,
        };
        let vars = self.path_assign(f, assign, &eff)?;
        match Self::owned_unless_whole(st, eff) {
            Some(eff) => {
                f.pending_vars = vars;
                let output = self.apply_output_path(st, f, eff)?;
                self.exit(f, output, Some(next))
            }
            None => {
                f.pending_vars = vars;
                let output = std::mem::take(&mut f.input);
                self.exit_unchanged(f, output, Some(next))
            }
        }
    }

    /// The effective input as an owned value, or `None` when it is the
    /// frame's input itself and the caller may take it rather than copy
    /// it: `InputPath` and `OutputPath` are both `$`. Choice and Succeed
    /// have no Retry or Catch, and with both paths `$` only the state's
    /// variables can fail after this (the output is the input, already
    /// within the size limit), in which case `exit_unchanged` puts the
    /// input back for a redrive.
    fn owned_unless_whole(st: &State, eff: Cow<'_, Value>) -> Option<Value> {
        match eff {
            Cow::Borrowed(_) if matches!((&st.input_path, &st.output_path), (PathSpec::Root, PathSpec::Root)) => None,
            eff => Some(eff.into_owned()),
        }
    }

    pub(super) fn run_succeed(&mut self, f: &mut Frame, st: &State) -> Result<Flow, StateError> {
        let eff = self.effective_input(st, f)?;
        match Self::owned_unless_whole(st, eff) {
            Some(eff) => {
                let output = self.apply_output_path(st, f, eff)?;
                self.exit(f, output, None)
            }
            None => {
                let output = std::mem::take(&mut f.input);
                self.exit_unchanged(f, output, None)
            }
        }
    }

    /// A Fail state without `Error` or `Cause` fails with neither (empty
    /// here, left out of history and DescribeExecution, as AWS does).
    pub(super) fn run_fail(
        &mut self,
        f: &mut Frame,
        error: Option<&Dynamic>,
        cause: Option<&Dynamic>,
    ) -> Result<Flow, StateError> {
        let scope = self.scope(f, &f.input, Default::default());
        let e = match error {
            Some(d) => d.eval(&scope)?,
            None => String::new(),
        };
        let c = match cause {
            Some(d) => d.eval(&scope)?,
            None => String::new(),
        };
        Ok(Flow::Ended(Err(StateError::new(e, c))))
    }

    pub(super) fn run_wait(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        spec: &WaitSpec,
    ) -> Result<Flow, StateError> {
        let (fire_at, output) = match &st.jsonata {
            Some(j) => self.wait_jsonata(f, j, spec)?,
            None => self.wait_jsonpath(f, st, spec)?,
        };
        if fire_at <= self.now {
            return self.exit(f, output, st.next);
        }
        let token = self.token();
        self.pending.insert(token, (fid, Pending::Wait));
        self.out.push(Command::StartTimer {
            token,
            fire_at_ms: fire_at,
        });
        f.phase = Phase::Waiting { token, output };
        Ok(Flow::Blocked)
    }

    /// A JSONPath Wait state's end time and output.
    fn wait_jsonpath(&mut self, f: &mut Frame, st: &State, spec: &WaitSpec) -> Result<(i64, Value), StateError> {
        let eff = self.effective_input(st, f)?;
        let fire_at = match spec {
            WaitSpec::Seconds(s) => self.now + *s as i64 * 1000,
            WaitSpec::Timestamp(t) => t.timestamp_millis(),
            WaitSpec::SecondsPath(p) => {
                let v = self.select(f, p, &eff, "SecondsPath")?;
                match v.as_u64() {
                    Some(s) => self.now + (s.min(i64::MAX as u64 / 2000)) as i64 * 1000,
                    None => {
                        return Err(StateError::runtime(format!(
                            "The SecondsPath parameter does not reference a valid non-negative integer: {v}"
                        )))
                    }
                }
            }
            WaitSpec::TimestampPath(p) => {
                let v = self.select(f, p, &eff, "TimestampPath")?;
                match v.as_str().and_then(parse_timestamp) {
                    Some(t) => t.timestamp_millis(),
                    None => return Err(StateError::runtime(format!("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {v}"))),
                }
            }
            WaitSpec::SecondsExpr(_) | WaitSpec::TimestampExpr(_) => {
                return Err(StateError::runtime("a JSONata Wait field in a JSONPath state"))
            }
        };
        let vars = self.path_assign(f, own_assign(st), &eff)?;
        let eff = eff.into_owned();
        let output = self.apply_output_path(st, f, eff)?;
        f.pending_vars = vars;
        Ok((fire_at, output))
    }
}

/// A JSONPath state's own `Assign`.
pub(super) fn own_assign(st: &State) -> Option<&Template> {
    st.path_assign.as_ref().and_then(|a| a.state.as_ref())
}
