//! Payload templates: `Parameters`, `ItemSelector` and `ResultSelector`.
//!
//! A template is compiled once. Subtrees without any `.$` key become
//! literals that are cloned as a whole; `key.$` fields hold a compiled path or
//! intrinsic call.

use super::error::StateError;
use super::intrinsics::Call;
use super::path::{Path, Root};
use serde_json::{Map, Value};

/// What templates, intrinsics and Choice rules read: the state's effective
/// input, the Context object (built on first use) and the execution's
/// source of randomness.
pub trait Scope {
    /// The document `$` refers to.
    fn input(&self) -> &Value;
    /// The whole Context object `$$`, `Execution.Input` included.
    fn context(&self) -> &Value;
    /// The next pseudo-random number of this execution.
    fn random(&self) -> u64;

    /// The workflow variable `name` (`$name` in a path), if it is set and
    /// visible here.
    fn var(&self, name: &str) -> Option<&Value> {
        let _ = name;
        None
    }

    /// `$$.Execution.Input`. Executions override this to read the input in
    /// place; the default reads it out of [`Scope::context`].
    fn execution_input(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.context().pointer("/Execution/Input").unwrap_or(&NULL)
    }

    /// The Context object, where `Execution.Input` may be left out: what
    /// paths that never reach the execution input read. Executions override
    /// this so that reading `$$.Map.Item.Value` or `$$.State.Name` costs no
    /// copy of the execution input.
    fn context_without_input(&self) -> &Value {
        self.context()
    }

    /// `$$.Map.Item.Value` (null outside a Map's `ItemSelector`, where
    /// [`Scope::doc_for`] then reads the Context object, which has no
    /// `Map`). Executions override this to read the item in place.
    fn map_item_value(&self) -> Option<&Value> {
        self.context_without_input().pointer("/Map/Item/Value")
    }

    /// `$$.Map.Item.Index`, as [`Scope::map_item_value`].
    fn map_item_index(&self) -> Option<&Value> {
        self.context_without_input().pointer("/Map/Item/Index")
    }

    /// The document a path reads: the input for `$`, the execution input for
    /// `$$.Execution.Input...`, the Map's item for `$$.Map.Item.Value...`,
    /// the Context object for other `$$` paths.
    fn doc_for(&self, path: &Path) -> &Value {
        use super::path::ABSENT;
        match path.root() {
            Root::Input => self.input(),
            Root::ExecutionInput => self.execution_input(),
            // Outside a Map's ItemSelector there is no `$$.Map`: the path
            // selects nothing, as it did in the Context object.
            Root::MapItemValue => self.map_item_value().unwrap_or(&ABSENT),
            Root::MapItemIndex => self.map_item_index().unwrap_or(&ABSENT),
            Root::Context if path.needs_execution_input() => self.context(),
            Root::Context => self.context_without_input(),
            Root::Variable => self.var(path.variable().unwrap_or_default()).unwrap_or(&ABSENT),
        }
    }
}

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value with no dynamic field inside.
    Literal(Value),
    /// `"key.$": "$.path"` or `"$$.path"`.
    Path(Path),
    /// `"key.$": "States.Fn(...)"`.
    Intrinsic(Call),
    /// An object with at least one dynamic field somewhere below it.
    Object(Vec<(String, Template)>),
    /// An array with at least one dynamic element somewhere below it.
    Array(Vec<Template>),
}

/// One problem found while compiling a template, located relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// JSON-pointer suffix inside the template (e.g. `/a/b.$`).
    pub pointer: String,
    /// Diagnostic code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Compiles a template, collecting every problem.
    pub fn compile(v: &Value, problems: &mut Vec<TemplateProblem>) -> Template {
        Self::compile_at(v, "", problems)
    }

    fn compile_at(v: &Value, at: &str, problems: &mut Vec<TemplateProblem>) -> Template {
        match v {
            Value::Object(o) => {
                let mut fields = Vec::with_capacity(o.len());
                let mut dynamic = false;
                for (k, v) in o {
                    let here = format!("{at}/{}", super::diag::esc(k));
                    if let Some(name) = k.strip_suffix(".$") {
                        dynamic = true;
                        let t = match v.as_str() {
                            Some(s) if s.starts_with('$') => match Path::parse(s) {
                                Ok(p) => Template::Path(p),
                                Err(e) => {
                                    problems.push(TemplateProblem {
                                        pointer: here,
                                        code: "INVALID_JSON_PATH",
                                        message: e.to_string(),
                                    });
                                    Template::Literal(Value::Null)
                                }
                            },
                            Some(s) if s.starts_with("States.") => match Call::parse(s) {
                                Ok(c) => Template::Intrinsic(c),
                                Err(e) => {
                                    problems.push(TemplateProblem {
                                        pointer: here,
                                        code: "INVALID_INTRINSIC_FUNCTION",
                                        message: e.0,
                                    });
                                    Template::Literal(Value::Null)
                                }
                            },
                            _ => {
                                problems.push(TemplateProblem {
                                    pointer: here,
                                    code: "INVALID_JSON_PATH",
                                    message: format!(
                                        "the value of '{k}' must be a JSONPath ('$...' or '$$...') or an intrinsic function ('States....'), got {v}"
                                    ),
                                });
                                Template::Literal(Value::Null)
                            }
                        };
                        fields.push((name.to_string(), t));
                    } else {
                        let t = Self::compile_at(v, &here, problems);
                        dynamic |= !matches!(t, Template::Literal(_));
                        fields.push((k.clone(), t));
                    }
                }
                if dynamic {
                    Template::Object(fields)
                } else {
                    Template::Literal(v.clone())
                }
            }
            Value::Array(a) => {
                let items: Vec<Template> = a
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::compile_at(v, &format!("{at}/{i}"), problems))
                    .collect();
                if items.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(v.clone())
                } else {
                    Template::Array(items)
                }
            }
            v => Template::Literal(v.clone()),
        }
    }

    /// True when evaluating the template may read the Context object.
    pub fn uses_context(&self) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Path(p) => p.reads_context(),
            Template::Intrinsic(c) => c.uses_context(),
            Template::Object(f) => f.iter().any(|(_, t)| t.uses_context()),
            Template::Array(a) => a.iter().any(Template::uses_context),
        }
    }

    /// Evaluates the template. `field` names the `.$` key for error messages.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Value, StateError> {
        self.eval_field(scope, "")
    }

    fn eval_field(&self, scope: &dyn Scope, field: &str) -> Result<Value, StateError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Path(p) => {
                let doc = scope.doc_for(p);
                p.select_value(doc).ok_or_else(|| {
                    let cause = match p.variable() {
                        Some(name) if scope.var(name).is_none() => format!(
                            "The JSONPath '{p}' specified for the field '{field}.$' could not be found: the variable '{name}' is not defined"
                        ),
                        Some(name) => format!(
                            "The JSONPath '{p}' specified for the field '{field}.$' could not be found in the variable '{name}'"
                        ),
                        None => format!(
                            "The JSONPath '{p}' specified for the field '{field}.$' could not be found in the input '{doc}'"
                        ),
                    };
                    StateError::runtime(cause)
                })
            }
            Template::Intrinsic(c) => c.eval(scope),
            Template::Object(fields) => {
                let mut m = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval_field(scope, k)?);
                }
                Ok(Value::Object(m))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval_field(scope, field))
                .collect::<Result<_, _>>()
                .map(Value::Array),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct S(Value, Value);
    impl Scope for S {
        fn input(&self) -> &Value {
            &self.0
        }
        fn context(&self) -> &Value {
            &self.1
        }
        fn random(&self) -> u64 {
            4
        }
    }

    #[test]
    fn compiles_and_evaluates() {
        let mut probs = Vec::new();
        let t = Template::compile(
            &json!({"lit": {"x": [1, 2]}, "p.$": "$.a", "c.$": "$$.Execution.Name", "n": {"f.$": "States.Format('{}-{}', $.a, 2)"}, "arr": [{"q.$": "$.a"}]}),
            &mut probs,
        );
        assert!(probs.is_empty());
        assert!(t.uses_context());
        let out = t
            .eval(&S(json!({"a": "A"}), json!({"Execution": {"Name": "e"}})))
            .unwrap();
        assert_eq!(
            out,
            json!({"lit": {"x": [1, 2]}, "p": "A", "c": "e", "n": {"f": "A-2"}, "arr": [{"q": "A"}]})
        );
        let e = t.eval(&S(json!({}), json!({}))).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert!(e.cause.contains("'p.$'"), "{}", e.cause);
    }

    #[test]
    fn reports_every_problem() {
        let mut probs = Vec::new();
        Template::compile(
            &json!({"a.$": "nope", "b": {"c.$": "$.["}, "d.$": "States.Bad()", "e.$": 3}),
            &mut probs,
        );
        let ptrs: Vec<_> = probs.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(ptrs, ["/a.$", "/b/c.$", "/d.$", "/e.$"]);
    }
}
