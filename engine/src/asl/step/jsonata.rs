//! JSONata states at run time: each state type's JSONata fields
//! (`Arguments`, `Output`, `Condition`, `Items`, `ItemSelector`, the number
//! and string fields that may be expressions, a catcher's `Output`), and
//! the `EvaluationFailed` event and `States.QueryEvaluationError` when an
//! expression fails. The JSONPath code of each state type calls in here
//! when its state is a JSONata state.

use super::data::Extra;
use super::{Execution, Flow, Frame};
use crate::asl::choice::{parse_timestamp, Rule};
use crate::asl::error::{self, StateError};
use crate::asl::jsonata::{Env, EvalError, Jt, States};
use crate::asl::model::{Catcher, Dynamic, JsonataFields, Seconds, State, StateId, WaitSpec};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// The longest Wait (`Seconds`), as AWS bounds it.
const MAX_WAIT_SECONDS: u64 = 99_999_999;

/// What a field sees of `$states` besides the input and the context.
#[derive(Default, Clone, Copy)]
pub(super) struct Seen<'a> {
    pub result: Option<&'a Value>,
    pub error_output: Option<&'a Value>,
    pub extra: Extra<'a>,
}

impl Execution {
    /// Evaluates a field of the frame's state.
    fn jeval(&self, f: &Frame, jt: &Jt, field: &str, seen: Seen<'_>) -> Result<Value, EvalError> {
        if let Some(v) = jt.literal() {
            return Ok(v.clone());
        }
        let context = |with_input| self.context_object(f, seen.extra, with_input);
        let var = |name: &str| self.var_of(f, name).cloned();
        let env = Env::new(
            jt.reads(),
            States {
                input: &f.input,
                result: seen.result,
                error_output: seen.error_output,
                context: &context,
                var: &var,
            },
            self.now,
            &|| self.random(),
        );
        jt.eval(&env, field)
    }

    /// Evaluates an `Assign` (with the variables as they were when the
    /// state was entered, like its `Output`).
    fn jassign(
        &mut self,
        f: &mut Frame,
        a: Option<&Jt>,
        field: &str,
        seen: Seen<'_>,
    ) -> Result<Option<Map<String, Value>>, StateError> {
        let Some(a) = a else {
            return Ok(None);
        };
        match self.jvalue(f, a, field, seen)? {
            // An empty `Assign` assigns nothing (and records nothing).
            Value::Object(m) if m.is_empty() => Ok(None),
            Value::Object(m) => Ok(Some(m)),
            v => Err(self.evaluation_failed(f, a.type_error(field, "object", &v))),
        }
    }

    /// Records `EvaluationFailed` and gives the state's error.
    pub(super) fn evaluation_failed(&mut self, f: &mut Frame, e: EvalError) -> StateError {
        let name = self.machine.state(f.state).name.clone();
        let cause = format!(
            "An error occurred while executing the state '{name}' (entered at the event id #{}). {}",
            f.entered_event, e.cause
        );
        if self.opts.history {
            let d = json!({"state": &*name, "error": error::QUERY_EVALUATION_ERROR, "cause": cause, "location": e.location});
            f.last_event = self.record(
                "EvaluationFailed",
                f.last_event,
                Some(("evaluationFailedEventDetails", d.into())),
            );
        }
        StateError::new(error::QUERY_EVALUATION_ERROR, cause)
    }

    /// Evaluates a field, failing the state on an error.
    pub(super) fn jvalue(&mut self, f: &mut Frame, jt: &Jt, field: &str, seen: Seen<'_>) -> Result<Value, StateError> {
        self.jeval(f, jt, field, seen).map_err(|e| self.evaluation_failed(f, e))
    }

    /// The state's `Output`, or `default` without one.
    fn joutput(
        &mut self,
        f: &mut Frame,
        j: &JsonataFields,
        seen: Seen<'_>,
        default: Value,
    ) -> Result<Value, StateError> {
        match &j.output {
            Some(o) => self.jvalue(f, o, "Output", seen),
            None => Ok(default),
        }
    }

    /// A number field: a literal, or an expression giving a non-negative
    /// (with `positive`, a positive) integer.
    pub(super) fn jnumber(
        &mut self,
        f: &mut Frame,
        s: &Seconds,
        field: &str,
        positive: bool,
    ) -> Result<u64, StateError> {
        match s {
            Seconds::Literal(n) => Ok(*n),
            Seconds::Path(_) => Err(StateError::runtime(format!("a JSONPath {field} in a JSONata state"))),
            Seconds::Expr(j) => self.jint(f, j, field, positive),
        }
    }

    /// An expression that must give a non-negative (with `positive`, a
    /// positive) integer.
    fn jint(&mut self, f: &mut Frame, j: &Jt, field: &str, positive: bool) -> Result<u64, StateError> {
        let v = self.jvalue(f, j, field, Seen::default())?;
        match v.as_f64() {
            Some(n) if n.fract() == 0.0 && n >= if positive { 1.0 } else { 0.0 } && n < 1e15 => Ok(n as u64),
            _ => {
                let want = if positive {
                    "positive integer"
                } else {
                    "non-negative integer"
                };
                let e = j.type_error(field, want, &v);
                Err(self.evaluation_failed(f, e))
            }
        }
    }

    /// Pass and Succeed: `Output`, or the input.
    pub(super) fn run_passthrough_jsonata(
        &mut self,
        f: &mut Frame,
        j: &JsonataFields,
        next: Option<StateId>,
    ) -> Result<Flow, StateError> {
        if j.output.is_none() {
            let vals = self.jassign(f, j.assign.as_ref(), "Assign", Seen::default())?;
            f.pending_vars = vals.map(Box::new);
            let input = std::mem::take(&mut f.input);
            return self.exit_unchanged(f, input, next);
        }
        let output = self.joutput(f, j, Seen::default(), Value::Null)?;
        let vals = self.jassign(f, j.assign.as_ref(), "Assign", Seen::default())?;
        f.pending_vars = vals.map(Box::new);
        self.exit(f, output, next)
    }

    pub(super) fn run_choice_jsonata(
        &mut self,
        f: &mut Frame,
        st: &State,
        j: &JsonataFields,
        choices: &[(Rule, StateId)],
        default: Option<StateId>,
    ) -> Result<Flow, StateError> {
        for (i, (rule, target)) in choices.iter().enumerate() {
            let Rule::Condition(cond) = rule else {
                continue;
            };
            let field = format!("Choices/{i}/Condition");
            let v = self.jvalue(f, cond, &field, Seen::default())?;
            let matched = match v {
                Value::Bool(b) => b,
                v => {
                    let e = cond.type_error(&field, "boolean", &v);
                    return Err(self.evaluation_failed(f, e));
                }
            };
            if matched {
                let output = match j.rule_outputs.get(i).and_then(Option::as_ref) {
                    Some(o) => Some(self.jvalue(f, o, &format!("Choices/{i}/Output"), Seen::default())?),
                    None => None,
                };
                let assign = j.rule_assigns.get(i).and_then(Option::as_ref);
                let vals = self.jassign(f, assign, &format!("Choices/{i}/Assign"), Seen::default())?;
                f.pending_vars = vals.map(Box::new);
                return match output {
                    Some(output) => self.exit(f, output, Some(*target)),
                    None => {
                        let input = std::mem::take(&mut f.input);
                        self.exit_unchanged(f, input, Some(*target))
                    }
                };
            }
        }
        let Some(next) = default else {
            return Err(StateError::new(
                error::NO_CHOICE_MATCHED,
                format!(
                    "No Choice Rules matched and no Default was specified in state '{}'",
                    st.name
                ),
            ));
        };
        self.run_passthrough_jsonata(f, j, Some(next))
    }

    /// A Fail state's `Error` or `Cause`.
    pub(super) fn jstring(&mut self, f: &mut Frame, d: Option<&Dynamic>, field: &str) -> Result<String, StateError> {
        match d {
            None => Ok(String::new()),
            Some(Dynamic::Literal(s)) => Ok(s.clone()),
            Some(Dynamic::Expr(j)) => match self.jvalue(f, j, field, Seen::default())? {
                Value::String(s) => Ok(s),
                v => {
                    let e = j.type_error(field, "string", &v);
                    Err(self.evaluation_failed(f, e))
                }
            },
            Some(_) => Err(StateError::runtime(format!("a JSONPath {field} in a JSONata state"))),
        }
    }

    /// A Wait state's end time and output.
    pub(super) fn wait_jsonata(
        &mut self,
        f: &mut Frame,
        j: &JsonataFields,
        spec: &WaitSpec,
    ) -> Result<(i64, Value), StateError> {
        let fire_at = match spec {
            WaitSpec::Seconds(s) => self.now + (*s).min(i64::MAX as u64 / 2000) as i64 * 1000,
            WaitSpec::Timestamp(t) => t.timestamp_millis(),
            WaitSpec::SecondsExpr(e) => {
                let s = self.jint(f, e, "Seconds", false)?;
                if s > MAX_WAIT_SECONDS {
                    let err = e.type_error("Seconds", "integer from 0 to 99999999", &Value::from(s));
                    return Err(self.evaluation_failed(f, err));
                }
                self.now + s as i64 * 1000
            }
            WaitSpec::TimestampExpr(e) => {
                let v = self.jvalue(f, e, "Timestamp", Seen::default())?;
                match v.as_str().and_then(parse_timestamp) {
                    Some(t) => t.timestamp_millis(),
                    None => {
                        let err = EvalError {
                            location: "Timestamp".into(),
                            cause: format!("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)),
                        };
                        return Err(self.evaluation_failed(f, err));
                    }
                }
            }
            WaitSpec::SecondsPath(_) | WaitSpec::TimestampPath(_) => {
                return Err(StateError::runtime("a JSONPath Wait field in a JSONata state"))
            }
        };
        let output = match &j.output {
            Some(o) => self.jvalue(f, o, "Output", Seen::default())?,
            None => f.input.clone(),
        };
        let vals = self.jassign(f, j.assign.as_ref(), "Assign", Seen::default())?;
        f.pending_vars = vals.map(Box::new);
        Ok((fire_at, output))
    }

    /// A Task's or Parallel's `Arguments`, or its input.
    pub(super) fn arguments_jsonata(
        &mut self,
        f: &mut Frame,
        j: &JsonataFields,
        extra: Extra<'_>,
    ) -> Result<Value, StateError> {
        match &j.arguments {
            Some(a) => self.jvalue(
                f,
                a,
                "Arguments",
                Seen {
                    extra,
                    ..Seen::default()
                },
            ),
            None => Ok(f.input.clone()),
        }
    }

    /// A Map's items (`Items`, or the input), each through `ItemSelector`.
    pub(super) fn map_items_jsonata(
        &mut self,
        f: &mut Frame,
        items: Option<&Jt>,
        selector: Option<&Jt>,
    ) -> Result<VecDeque<(u32, Value)>, StateError> {
        let owned;
        let list: &Vec<Value> = match items {
            Some(jt) => {
                owned = self.jvalue(f, jt, "Items", Seen::default())?;
                // Items computed here are held to the payload limit, as an
                // input that carries them would be.
                super::check_size(&owned, || {
                    format!("The Items of state '{}'", self.machine.state(f.state).name)
                })?;
                match &owned {
                    Value::Array(a) => a,
                    v => {
                        let e = jt.type_error("Items", "array", v);
                        return Err(self.evaluation_failed(f, e));
                    }
                }
            }
            None => match &f.input {
                Value::Array(_) => {
                    owned = f.input.clone();
                    let Value::Array(a) = &owned else {
                        unreachable!("matched above")
                    };
                    a
                }
                v => {
                    let e = EvalError {
                        location: "Items".into(),
                        cause: format!("Map state input must be an array but was: {v}"),
                    };
                    return Err(self.evaluation_failed(f, e));
                }
            },
        };
        match selector {
            None => Ok(list.iter().cloned().enumerate().map(|(i, v)| (i as u32, v)).collect()),
            Some(sel) => self.select_jsonata(f, sel, list),
        }
    }

    /// Each item through a JSONata `ItemSelector` (with `$states.context.Map.Item`).
    pub(super) fn select_jsonata(
        &mut self,
        f: &mut Frame,
        sel: &Jt,
        list: &[Value],
    ) -> Result<VecDeque<(u32, Value)>, StateError> {
        let mut out = VecDeque::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let seen = Seen {
                extra: Extra {
                    task_token: None,
                    map_item: Some((i as u32, item)),
                },
                ..Seen::default()
            };
            let v = self.jeval(f, sel, "ItemSelector", seen);
            match v {
                Ok(v) => out.push_back((i as u32, v)),
                Err(e) => return Err(self.evaluation_failed(f, e)),
            }
        }
        Ok(out)
    }

    /// A Task's, Parallel's or Map's result through `Output`.
    pub(super) fn apply_result_jsonata(
        &mut self,
        f: &mut Frame,
        st: &State,
        j: &JsonataFields,
        result: Value,
    ) -> Result<Flow, StateError> {
        let seen = Seen {
            result: Some(&result),
            ..Seen::default()
        };
        let output = match &j.output {
            Some(o) => Some(self.jvalue(f, o, "Output", seen)?),
            None => None,
        };
        let vals = self.jassign(f, j.assign.as_ref(), "Assign", seen)?;
        f.pending_vars = vals.map(Box::new);
        self.exit(f, output.unwrap_or(result), st.next)
    }

    /// A matching catcher's output: its `Output`, or the error output.
    pub(super) fn catch_output_jsonata(
        &mut self,
        f: &mut Frame,
        c: &Catcher,
        index: usize,
        err_out: Value,
    ) -> Result<Value, StateError> {
        let seen = Seen {
            error_output: Some(&err_out),
            ..Seen::default()
        };
        let output = match &c.output {
            Some(o) => Some(self.jvalue(f, o, &format!("Catch/{index}/Output"), seen)?),
            None => None,
        };
        let vals = self.jassign(f, c.assign.as_ref(), &format!("Catch/{index}/Assign"), seen)?;
        f.pending_vars = vals.map(Box::new);
        Ok(output.unwrap_or(err_out))
    }
}
