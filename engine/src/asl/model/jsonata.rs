//! The JSONata side of the compiler: which fields each query language
//! allows, and compiling `{% %}` fields with AWS's rules on where
//! `$states.result` and `$states.errorOutput` may be read.

use super::compiler::Compiler;
use super::{Dynamic, JsonataFields, Seconds};
use crate::asl::jsonata::{expression_body, Jt, StatesRead};
use crate::asl::template::Template;
use serde_json::{Map, Value};

/// Fields only a JSONPath state has.
pub(super) const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "ErrorPath",
    "CausePath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "Result",
];

/// Fields only a JSONata state has.
pub(super) const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];

/// Which parts of `$states` a field may read besides `input` and `context`.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Reads {
    /// Neither `result` nor `errorOutput` (Arguments, Items, Condition, ...).
    Input,
    /// `result` too: the `Output` of Task, Parallel and Map.
    Result,
    /// `errorOutput` too: a catcher's `Output`.
    ErrorOutput,
}

impl Compiler {
    /// Compiles a JSONata field at `at`, reporting syntax errors and a read
    /// of `$states.result` or `$states.errorOutput` where AWS has none.
    pub(super) fn jt(&mut self, v: &Value, at: &str, reads: Reads) -> Option<Jt> {
        match Jt::compile(v) {
            Ok(j) => {
                if reads != Reads::Result && StatesRead::names_result(&j) {
                    self.d.err(
                        at,
                        "SCHEMA_VALIDATION_FAILED",
                        "$states.result is only available in the Output of a Task, Parallel or Map state",
                    );
                }
                if reads != Reads::ErrorOutput && StatesRead::names_error_output(&j) {
                    self.d.err(
                        at,
                        "SCHEMA_VALIDATION_FAILED",
                        "$states.errorOutput is only available in the Output of a catcher",
                    );
                }
                Some(j)
            }
            Err(probs) => {
                for (p, m) in probs {
                    self.d.err(&format!("{at}{p}"), "INVALID_JSONATA", m);
                }
                None
            }
        }
    }

    /// `Arguments` and `Output` of a JSONata state of type `ty`.
    pub(super) fn jsonata_fields(&mut self, o: &Map<String, Value>, ty: &str, at: &str) -> JsonataFields {
        // `Output` and `Assign` of Task, Parallel and Map see the result.
        let reads = if matches!(ty, "Task" | "Parallel" | "Map") {
            Reads::Result
        } else {
            Reads::Input
        };
        let arguments = o
            .get("Arguments")
            .and_then(|v| self.jt(v, &format!("{at}/Arguments"), Reads::Input));
        let output = o.get("Output").and_then(|v| self.jt(v, &format!("{at}/Output"), reads));
        let assign = self.assign(o, at, reads);
        JsonataFields {
            arguments,
            output,
            assign,
            rule_outputs: Vec::new(),
            rule_assigns: Vec::new(),
        }
    }

    /// A number field of a JSONata state: an integer or an expression.
    pub(super) fn jsonata_seconds(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> Option<Seconds> {
        let v = o.get(key)?;
        let here = format!("{at}/{key}");
        match v {
            Value::String(s) if matches!(expression_body(s), Ok(Some(_)) | Err(_)) => {
                self.jt(v, &here, Reads::Input).map(|j| Seconds::Expr(Box::new(j)))
            }
            _ => match v.as_u64() {
                Some(n) => Some(Seconds::Literal(n)),
                None => {
                    self.d.err(
                        &here,
                        "SCHEMA_VALIDATION_FAILED",
                        format!("'{key}' must be a non-negative integer or a JSONata expression, got {v}"),
                    );
                    None
                }
            },
        }
    }

    /// A string field of a JSONata state (`Error`, `Cause`): a literal or
    /// an expression.
    pub(super) fn jsonata_string(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> Option<Dynamic> {
        let v = o.get(key)?;
        let here = format!("{at}/{key}");
        match v {
            Value::String(s) => match expression_body(s) {
                Ok(None) => Some(Dynamic::Literal(s.clone())),
                _ => self.jt(v, &here, Reads::Input).map(|j| Dynamic::Expr(Box::new(j))),
            },
            _ => {
                self.d.err(
                    &here,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be a string or a JSONata expression"),
                );
                None
            }
        }
    }

    /// `Assign` of a JSONPath state, Choice rule or catcher: a payload
    /// template whose members (`name`, or `name.$` for a path or an
    /// intrinsic) are the variables to set.
    pub(super) fn path_assign(&mut self, o: &Map<String, Value>, at: &str) -> Option<Template> {
        let v = o.get("Assign")?;
        let here = format!("{at}/Assign");
        self.assigned_names(v, &here, |k| k.strip_suffix(".$").unwrap_or(k))?;
        Some(self.template(v, &here))
    }

    /// `Assign` of a JSONata state, Choice rule or catcher: an object of
    /// variables, each a valid name other than `states`. The names are
    /// kept for the scope check ([`Compiler::check_scopes`]).
    pub(super) fn assign(&mut self, o: &Map<String, Value>, at: &str, reads: Reads) -> Option<Jt> {
        let v = o.get("Assign")?;
        let here = format!("{at}/Assign");
        self.assigned_names(v, &here, |k| k)?;
        self.jt(v, &here, reads)
    }

    /// Checks that an `Assign` at `here` is an object of valid variable
    /// names (`name_of` a member's key), and notes each for the scope check.
    fn assigned_names(&mut self, v: &Value, here: &str, name_of: impl Fn(&str) -> &str) -> Option<()> {
        let Some(vars) = v.as_object() else {
            self.d.err(
                here,
                "SCHEMA_VALIDATION_FAILED",
                "'Assign' must be an object of variables",
            );
            return None;
        };
        let mut seen = std::collections::HashSet::new();
        for key in vars.keys() {
            let name = name_of(key);
            let loc = format!("{here}/{}", crate::asl::diag::esc(key));
            if !seen.insert(name) {
                self.d.err(
                    &loc,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("variable '{name}' is assigned twice in one Assign"),
                );
            }
            if name == "states" {
                self.d.err(
                    &loc,
                    "SCHEMA_VALIDATION_FAILED",
                    "'states' is reserved and cannot be assigned",
                );
            } else if !valid_variable(name) {
                self.d.err(
                    &loc,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{name}' is not a variable name: a letter or '_' first, then letters, digits or '_', at most 80 characters"),
                );
            }
            self.assigned_here(name, &loc);
        }
        Some(())
    }
}

/// A variable name: an identifier (a letter or `_` first, then letters,
/// digits or `_`) of at most 80 characters.
pub fn valid_variable(name: &str) -> bool {
    let mut cs = name.chars();
    matches!(cs.next(), Some(c) if c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || c == '_')
        && name.chars().count() <= 80
}
