//! Data flow: InputPath, OutputPath and ResultPath, the Context object, and
//! the execution's keyed source of randomness.
//!
//! The Context object is never copied whole on the hot path: paths under
//! `$$.Execution.Input` read the execution input in place, other `$$` paths
//! read a small Context object built without it, and only a path that may
//! select the input inside a bigger document (`$$`, `$$.Execution`, `$$.*`)
//! builds the whole object. So a Map whose `ItemSelector` reads
//! `$$.Map.Item.Value` costs O(item) per item, not O(execution input).

use super::{iso_millis, Execution, Frame};
use crate::asl::error::{self, StateError};
use crate::asl::model::{PathSpec, ResultPathSpec, State};
use crate::asl::path::{Path, Root, Selection};
use crate::asl::template::Scope;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a state's `$$` paths see besides the frame: the task token inside a
/// Task state, the current item inside a Map's `ItemSelector`.
#[derive(Clone, Copy, Default)]
pub(super) struct Extra<'a> {
    pub task_token: Option<&'a str>,
    pub map_item: Option<(u32, &'a Value)>,
}

/// The [`Scope`] templates, intrinsics and Choice rules evaluate against.
pub(super) struct StateScope<'a> {
    ex: &'a Execution,
    f: &'a Frame,
    extra: Extra<'a>,
    input: &'a Value,
    full: OnceCell<Value>,
    light: OnceCell<Value>,
    index: OnceCell<Value>,
}

impl Scope for StateScope<'_> {
    fn input(&self) -> &Value {
        self.input
    }
    fn context(&self) -> &Value {
        self.full
            .get_or_init(|| self.ex.context_object(self.f, self.extra, true))
    }
    fn context_without_input(&self) -> &Value {
        self.light
            .get_or_init(|| self.ex.context_object(self.f, self.extra, false))
    }
    fn execution_input(&self) -> &Value {
        &self.ex.input
    }
    fn map_item_value(&self) -> Option<&Value> {
        self.extra.map_item.map(|(_, v)| v)
    }
    fn map_item_index(&self) -> Option<&Value> {
        let (i, _) = self.extra.map_item?;
        Some(self.index.get_or_init(|| Value::from(i)))
    }
    fn random(&self) -> u64 {
        self.ex.random()
    }
    fn var(&self, name: &str) -> Option<&Value> {
        self.ex.var_of(self.f, name)
    }
}

/// A seed derived from the execution ARN: for [`super::Options::seed`] `None`.
pub(super) fn seed_from(arn: &str) -> [u8; 32] {
    Sha256::digest(arn.as_bytes()).into()
}

/// SHA-256 over the seed, a domain byte and a counter.
fn prf(seed: &[u8; 32], domain: u8, n: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed);
    h.update([domain]);
    h.update(n.to_le_bytes());
    h.finalize().into()
}

const RANDOM: u8 = 1;
const TASK_TOKEN: u8 = 2;

impl Execution {
    /// The next number of the execution's generator.
    pub(super) fn random(&self) -> u64 {
        next_random(&self.seed, &self.rng)
    }

    /// The task token for the invocation with this core token: 64 hex
    /// digits, a function of the secret seed.
    pub(super) fn task_token(&self, token: u64) -> String {
        let b = prf(&self.seed, TASK_TOKEN, token);
        let mut s = String::with_capacity(2 * b.len());
        crate::asl::push_hex(&mut s, &b);
        s
    }

    pub(super) fn scope<'a>(&'a self, f: &'a Frame, input: &'a Value, extra: Extra<'a>) -> StateScope<'a> {
        StateScope {
            ex: self,
            f,
            extra,
            input,
            full: OnceCell::new(),
            light: OnceCell::new(),
            index: OnceCell::new(),
        }
    }

    /// The Context object for a frame, with or without the execution input
    /// (see the module documentation).
    pub(super) fn context_object(&self, f: &Frame, extra: Extra<'_>, with_input: bool) -> Value {
        let st = self.machine.state(f.state);
        let mut execution = json!({
            "Id": self.info.execution_arn,
            "Name": self.info.name,
            "RoleArn": self.info.role_arn,
            "StartTime": iso_millis(self.info.start_time_ms),
            "RedriveCount": self.redrive_count,
        });
        if let Some(t) = self.redrive_ms {
            execution["RedriveTime"] = json!(iso_millis(t));
        }
        if with_input {
            #[cfg(test)]
            self.full_contexts.fetch_add(1, Ordering::Relaxed);
            execution["Input"] = self.input.clone();
        }
        let mut c = json!({
            "Execution": execution,
            "State": {
                "EnteredTime": iso_millis(f.entered_ms),
                "Name": &*st.name,
                "RetryCount": f.retry_count,
            },
            "StateMachine": {
                "Id": self.info.state_machine_arn,
                "Name": self.info.state_machine_name,
            },
        });
        if let Some(t) = extra.task_token {
            c["Task"] = json!({ "Token": t });
        }
        if let Some((i, v)) = extra.map_item {
            c["Map"] = json!({"Item": {"Index": i, "Value": v}});
        }
        c
    }

    /// Evaluates a path of a state field (`InputPath`, `ItemsPath`, ...)
    /// against `doc` (for `$`) or the Context object (for `$$`).
    pub(super) fn select<'a>(
        &'a self,
        f: &'a Frame,
        p: &Path,
        doc: &'a Value,
        field: &str,
    ) -> Result<Cow<'a, Value>, StateError> {
        let not_found = |doc: &Value| {
            StateError::runtime(format!(
                "Invalid path '{p}' : No results for path: {p} (applying {field} to {doc})"
            ))
        };
        let from = |doc: &'a Value| match p.select(doc) {
            Some(Selection::One(v)) => Ok(Cow::Borrowed(v)),
            Some(s) => Ok(Cow::Owned(s.to_value())),
            None => Err(not_found(doc)),
        };
        match p.root() {
            Root::Input => from(doc),
            Root::ExecutionInput => from(&self.input),
            // A state field's path sees no Map item.
            Root::MapItemValue | Root::MapItemIndex => Err(not_found(&self.context_object(f, Extra::default(), false))),
            Root::Context => {
                let c = self.context_object(f, Extra::default(), p.needs_execution_input());
                p.select_value(&c).map(Cow::Owned).ok_or_else(|| not_found(&c))
            }
            Root::Variable => {
                let name = p.variable().unwrap_or_default();
                match self.var_of(f, name) {
                    Some(v) => from(v),
                    None => Err(StateError::runtime(format!(
                        "Invalid path '{p}' : The variable '{name}' is not defined (applying {field})"
                    ))),
                }
            }
        }
    }

    pub(super) fn effective_input<'a>(&'a self, st: &State, f: &'a Frame) -> Result<Cow<'a, Value>, StateError> {
        match &st.input_path {
            PathSpec::Root => Ok(Cow::Borrowed(&f.input)),
            PathSpec::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            PathSpec::Path(p) => self.select(f, p, &f.input, "InputPath"),
        }
    }

    pub(super) fn apply_output_path(&self, st: &State, f: &Frame, v: Value) -> Result<Value, StateError> {
        match &st.output_path {
            PathSpec::Root => Ok(v),
            PathSpec::Null => Ok(Value::Object(Map::new())),
            PathSpec::Path(p) if p.root() == Root::Input => {
                if p.select(&v).is_none() {
                    return Err(StateError::runtime(format!(
                        "Invalid path '{p}' : No results for path: {p} (applying OutputPath to {v})"
                    )));
                }
                Ok(p.take(v).unwrap_or(Value::Null))
            }
            PathSpec::Path(p) => self.select(f, p, &v, "OutputPath").map(Cow::into_owned),
        }
    }

    /// The state's output from its input and a result. The input is only
    /// read (copied where ResultPath keeps it): it stays in the frame until
    /// the state has exited, since a retry, a catcher or a redrive needs it
    /// if anything after this fails.
    pub(super) fn apply_result_path(rp: &ResultPathSpec, input: &Value, result: Value) -> Result<Value, StateError> {
        match rp {
            ResultPathSpec::Root => Ok(result),
            ResultPathSpec::Discard => Ok(input.clone()),
            ResultPathSpec::Path(p) => {
                let mut output = input.clone();
                match p.set(&mut output, result) {
                    Ok(()) => Ok(output),
                    Err(_) => Err(StateError::new(
                        error::RESULT_PATH_MATCH_FAILURE,
                        format!("Unable to apply ResultPath \"{p}\" to input \"{input}\""),
                    )),
                }
            }
        }
    }
}

/// Advances a generator and returns its next number.
fn next_random(seed: &[u8; 32], rng: &AtomicU64) -> u64 {
    let n = rng.fetch_add(1, Ordering::Relaxed);
    let b = prf(seed, RANDOM, n);
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}
