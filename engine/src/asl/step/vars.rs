//! Workflow variables: where a frame reads them (its own scope, then the
//! enclosing ones), how an `Assign` sets them within AWS's limits, and a
//! JSONPath state's `Assign`. A JSONata state's `Assign` is evaluated in
//! `jsonata.rs`; both set [`Frame::pending_vars`], applied when the state
//! exits.

use super::{json_size, Execution, Frame, Parent};
use crate::asl::error::{self, StateError};
use crate::asl::template::Template;
use serde_json::{Map, Value};

/// Variables an `Assign` sets when its state exits.
pub(super) type PendingVars = Option<Box<Map<String, Value>>>;

/// The most one variable, and one `Assign`, may hold (serialized): 256 KiB.
const VAR_LIMIT: u64 = 256 * 1024;
/// The most all of an execution's variables may hold: 10 MiB.
const TOTAL_VARS_LIMIT: u64 = 10 * 1024 * 1024;

impl Execution {
    /// A variable visible from the frame: its own scope's, else the
    /// enclosing scopes' (a branch or iteration reads its parents').
    pub(super) fn var_of<'a>(&'a self, f: &'a Frame, name: &str) -> Option<&'a Value> {
        if let Some(v) = f.vars.as_ref().and_then(|m| m.get(name)) {
            return Some(v);
        }
        let mut parent = f.parent;
        while let Parent::Child { frame, .. } = parent {
            let p = self.frames.get(frame as usize)?.as_ref()?;
            if let Some(v) = p.vars.as_ref().and_then(|m| m.get(name)) {
                return Some(v);
            }
            parent = p.parent;
        }
        None
    }

    /// Evaluates a JSONPath `Assign` with `$` as `doc` and the variables as
    /// they were when the state was entered: the values to set when the
    /// state exits ([`Frame::pending_vars`]).
    pub(super) fn path_assign(&self, f: &Frame, a: Option<&Template>, doc: &Value) -> Result<PendingVars, StateError> {
        let Some(a) = a else {
            return Ok(None);
        };
        Ok(match a.eval(&self.scope(f, doc, Default::default()))? {
            Value::Object(m) if !m.is_empty() => Some(Box::new(m)),
            _ => None,
        })
    }

    /// Sets variables in the frame's scope, within AWS's limits: 256 KiB
    /// per variable and per `Assign`, 10 MiB for the whole execution.
    pub(super) fn set_vars(&mut self, f: &mut Frame, vals: Map<String, Value>) -> Result<(), StateError> {
        let too_big = |what: String| StateError::new(error::DATA_LIMIT_EXCEEDED, what);
        let mut sizes = Vec::with_capacity(vals.len());
        let mut sum = 0u64;
        for (k, v) in &vals {
            let n = json_size(v).unwrap_or(usize::MAX) as u64;
            if n > VAR_LIMIT {
                return Err(too_big(format!(
                    "The variable '{k}' is {n} bytes: a variable may hold at most {VAR_LIMIT} bytes"
                )));
            }
            sum += n;
            sizes.push(n);
        }
        if sum > VAR_LIMIT {
            return Err(too_big(format!(
                "The Assign sets {sum} bytes of variables: at most {VAR_LIMIT} bytes per Assign"
            )));
        }
        let vars = f.vars.get_or_insert_with(Default::default);
        let replaced: u64 = vals
            .keys()
            .filter_map(|k| vars.get(k))
            .map(|v| json_size(v).unwrap_or(0) as u64)
            .sum();
        let total = (self.vars_bytes + sum).saturating_sub(replaced);
        if total > TOTAL_VARS_LIMIT {
            return Err(too_big(format!(
                "The execution's variables would take {total} bytes: at most {TOTAL_VARS_LIMIT} bytes"
            )));
        }
        self.vars_bytes = total;
        let mut assigned = self.opts.history.then(|| Vec::with_capacity(vals.len()));
        for (k, v) in vals {
            if let Some(a) = assigned.as_mut() {
                a.push((k.clone(), v.to_string()));
            }
            vars.insert(k, v);
        }
        f.assigned = assigned.map(Vec::into_boxed_slice);
        Ok(())
    }

    /// Forgets a scope's variables as its frame ends.
    pub(super) fn drop_vars(&mut self, f: &mut Frame) {
        if let Some(vars) = f.vars.take() {
            let n: u64 = vars.values().map(|v| json_size(v).unwrap_or(0) as u64).sum();
            self.vars_bytes = self.vars_bytes.saturating_sub(n);
        }
    }
}
