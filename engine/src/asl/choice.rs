//! Choice rules: compiled comparisons, `And`/`Or`/`Not`, and their evaluation.

use super::diag::Diags;
use super::error::StateError;
use super::path::Path;
use super::template::Scope;
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::cmp::Ordering;

/// A comparison operator (without its `Path` suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// StringEquals / StringEqualsPath
    StringEquals,
    /// StringLessThan(Path)
    StringLessThan,
    /// StringGreaterThan(Path)
    StringGreaterThan,
    /// StringLessThanEquals(Path)
    StringLessThanEquals,
    /// StringGreaterThanEquals(Path)
    StringGreaterThanEquals,
    /// StringMatches, with `*` wildcards
    StringMatches,
    /// NumericEquals(Path)
    NumericEquals,
    /// NumericLessThan(Path)
    NumericLessThan,
    /// NumericGreaterThan(Path)
    NumericGreaterThan,
    /// NumericLessThanEquals(Path)
    NumericLessThanEquals,
    /// NumericGreaterThanEquals(Path)
    NumericGreaterThanEquals,
    /// BooleanEquals(Path)
    BooleanEquals,
    /// TimestampEquals(Path)
    TimestampEquals,
    /// TimestampLessThan(Path)
    TimestampLessThan,
    /// TimestampGreaterThan(Path)
    TimestampGreaterThan,
    /// TimestampLessThanEquals(Path)
    TimestampLessThanEquals,
    /// TimestampGreaterThanEquals(Path)
    TimestampGreaterThanEquals,
    /// IsNull
    IsNull,
    /// IsPresent
    IsPresent,
    /// IsNumeric
    IsNumeric,
    /// IsString
    IsString,
    /// IsBoolean
    IsBoolean,
    /// IsTimestamp
    IsTimestamp,
}

const OPS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringLessThan", Op::StringLessThan),
    ("StringGreaterThan", Op::StringGreaterThan),
    ("StringLessThanEquals", Op::StringLessThanEquals),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::NumericEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::TimestampEquals),
    ("TimestampLessThan", Op::TimestampLessThan),
    ("TimestampGreaterThan", Op::TimestampGreaterThan),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal from the definition (or the boolean of an `Is*` test).
    Value(Value),
    /// A parsed timestamp literal.
    Timestamp(DateTime<FixedOffset>),
    /// A `StringMatches` pattern.
    Pattern(Vec<PatTok>),
    /// The value at a path (`...Path` operators).
    Path(Path),
}

/// A piece of a `StringMatches` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum PatTok {
    /// Literal text.
    Lit(String),
    /// `*`: any run of characters.
    Star,
}

/// A compiled Choice rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// All must match.
    And(Vec<Rule>),
    /// Any must match.
    Or(Vec<Rule>),
    /// Must not match.
    Not(Box<Rule>),
    /// `Variable` compared with an operand.
    Cmp {
        /// The `Variable` path.
        var: Path,
        /// The operator.
        op: Op,
        /// The right-hand side.
        rhs: Operand,
    },
    /// A JSONata `Condition` (evaluated by the JSONata Choice state).
    Condition(Box<crate::asl::jsonata::Jt>),
}

impl Rule {
    /// True when evaluating the rule may read the Context object.
    pub fn uses_context(&self) -> bool {
        match self {
            Rule::And(r) | Rule::Or(r) => r.iter().any(Rule::uses_context),
            Rule::Not(r) => r.uses_context(),
            Rule::Cmp { var, rhs, .. } => var.reads_context() || matches!(rhs, Operand::Path(p) if p.reads_context()),
            Rule::Condition(j) => j.reads().context.is_some(),
        }
    }

    /// Compiles a rule at JSON pointer `at`; `top` rules carry `Next`.
    pub fn compile(v: &Value, at: &str, top: bool, d: &mut Diags) -> Option<Rule> {
        let Some(o) = v.as_object() else {
            d.err(at, "SCHEMA_VALIDATION_FAILED", "a Choice rule must be an object");
            return None;
        };
        for k in o.keys() {
            let ok = matches!(k.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
                || (top && matches!(k.as_str(), "Next" | "Assign"))
                || OPS.iter().any(|(n, _)| k == n || k.strip_suffix("Path") == Some(n));
            if !ok {
                d.err(
                    &format!("{at}/{k}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed in a Choice rule"),
                );
            }
        }
        if top && !o.contains_key("Next") {
            d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "a top-level Choice rule must have 'Next'",
            );
        }
        if !top && o.contains_key("Next") {
            d.err(
                &format!("{at}/Next"),
                "SCHEMA_VALIDATION_FAILED",
                "a nested Choice rule must not have 'Next'",
            );
        }
        let mut list = |key: &str| -> Option<Vec<Rule>> {
            let arr = o.get(key)?;
            let Some(arr) = arr.as_array().filter(|a| !a.is_empty()) else {
                d.err(
                    &format!("{at}/{key}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be a non-empty array of rules"),
                );
                return Some(Vec::new());
            };
            Some(
                arr.iter()
                    .enumerate()
                    .filter_map(|(i, r)| Rule::compile(r, &format!("{at}/{key}/{i}"), false, d))
                    .collect(),
            )
        };
        let mut found = Vec::new();
        if let Some(r) = list("And") {
            found.push(Rule::And(r));
        }
        if let Some(r) = list("Or") {
            found.push(Rule::Or(r));
        }
        if let Some(n) = o.get("Not") {
            if let Some(r) = Rule::compile(n, &format!("{at}/Not"), false, d) {
                found.push(Rule::Not(Box::new(r)));
            }
        }
        let ops: Vec<(&String, &Value)> = o
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "Variable" | "And" | "Or" | "Not" | "Comment" | "Next" | "Assign"
                )
            })
            .collect();
        if !found.is_empty() && (o.contains_key("Variable") || !ops.is_empty()) || found.len() > 1 {
            d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "a Choice rule must be exactly one of And, Or, Not or a comparison",
            );
            return None;
        }
        if let Some(r) = found.pop() {
            return Some(r);
        }
        let var = match o.get("Variable") {
            None => {
                d.err(at, "SCHEMA_VALIDATION_FAILED", "a comparison needs 'Variable'");
                None
            }
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(p) => Some(p),
                Err(e) => {
                    d.err(&format!("{at}/Variable"), "INVALID_JSON_PATH", e.to_string());
                    None
                }
            },
            Some(_) => {
                d.err(
                    &format!("{at}/Variable"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'Variable' must be a string",
                );
                None
            }
        };
        if ops.len() != 1 {
            d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                format!("a comparison needs exactly one operator, found {}", ops.len()),
            );
            return None;
        }
        let (key, val) = ops[0];
        let here = format!("{at}/{key}");
        let (op, is_path) = match OPS.iter().find(|(n, _)| n == key) {
            Some((_, op)) => (*op, false),
            None => {
                let base = key.strip_suffix("Path").unwrap_or(key);
                let Some((_, op)) = OPS.iter().find(|(n, _)| *n == base) else {
                    return None; // already reported as not allowed
                };
                if matches!(
                    op,
                    Op::StringMatches
                        | Op::IsNull
                        | Op::IsPresent
                        | Op::IsNumeric
                        | Op::IsString
                        | Op::IsBoolean
                        | Op::IsTimestamp
                ) {
                    d.err(&here, "SCHEMA_VALIDATION_FAILED", format!("'{key}' is not an operator"));
                    return None;
                }
                (*op, true)
            }
        };
        let rhs = if is_path {
            match val.as_str().map(Path::parse) {
                Some(Ok(p)) => Operand::Path(p),
                Some(Err(e)) => {
                    d.err(&here, "INVALID_JSON_PATH", e.to_string());
                    return None;
                }
                None => {
                    d.err(
                        &here,
                        "SCHEMA_VALIDATION_FAILED",
                        format!("'{key}' must be a JSONPath string"),
                    );
                    return None;
                }
            }
        } else {
            use Op::*;
            let bad = |d: &mut Diags, want: &str| {
                d.err(&here, "SCHEMA_VALIDATION_FAILED", format!("'{key}' must be {want}"));
                None
            };
            match op {
                StringEquals | StringLessThan | StringGreaterThan | StringLessThanEquals | StringGreaterThanEquals => {
                    if !val.is_string() {
                        return bad(d, "a string");
                    }
                    Operand::Value(val.clone())
                }
                StringMatches => match val.as_str() {
                    Some(s) => Operand::Pattern(compile_pattern(s)),
                    None => return bad(d, "a string"),
                },
                NumericEquals
                | NumericLessThan
                | NumericGreaterThan
                | NumericLessThanEquals
                | NumericGreaterThanEquals => {
                    if !val.is_number() {
                        return bad(d, "a number");
                    }
                    Operand::Value(val.clone())
                }
                TimestampEquals
                | TimestampLessThan
                | TimestampGreaterThan
                | TimestampLessThanEquals
                | TimestampGreaterThanEquals => match val.as_str().and_then(parse_timestamp) {
                    Some(t) => Operand::Timestamp(t),
                    None => return bad(d, "an RFC 3339 timestamp string like 2016-03-14T01:59:00Z"),
                },
                BooleanEquals | IsNull | IsPresent | IsNumeric | IsString | IsBoolean | IsTimestamp => {
                    if !val.is_boolean() {
                        return bad(d, "a boolean");
                    }
                    Operand::Value(val.clone())
                }
            }
        };
        Some(Rule::Cmp { var: var?, op, rhs })
    }

    /// Evaluates the rule. A missing `Variable` is a `States.Runtime` error,
    /// except for `IsPresent`; a value of the wrong type just does not match.
    pub fn eval(&self, scope: &dyn Scope) -> Result<bool, StateError> {
        match self {
            Rule::And(rs) => {
                for r in rs {
                    if !r.eval(scope)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rs) => {
                for r in rs {
                    if r.eval(scope)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(r) => Ok(!r.eval(scope)?),
            // A JSONata Choice state evaluates its conditions itself.
            Rule::Condition(_) => Err(StateError::runtime("a JSONata Condition in a JSONPath Choice state")),
            Rule::Cmp { var, op, rhs } => {
                let doc = |p: &Path| scope.doc_for(p);
                let sel = var.select(doc(var));
                if *op == Op::IsPresent {
                    let present = match &sel {
                        None => false,
                        Some(super::path::Selection::One(_)) => true,
                        Some(super::path::Selection::Many(v)) => !v.is_empty(),
                    };
                    return Ok(Some(present) == rhs_bool(rhs));
                }
                let Some(sel) = sel else {
                    return Err(StateError::runtime(format!(
                        "Invalid path '{var}': The choice state's condition path references an invalid value."
                    )));
                };
                let owned;
                let v: &Value = match sel {
                    super::path::Selection::One(v) => v,
                    s @ super::path::Selection::Many(_) => {
                        owned = s.to_value();
                        &owned
                    }
                };
                let rhs_owned;
                let rhs = match rhs {
                    Operand::Path(p) => {
                        let Some(x) = p.select_value(doc(p)) else {
                            return Err(StateError::runtime(format!(
                                "Invalid path '{p}': The choice state's condition path references an invalid value."
                            )));
                        };
                        rhs_owned = match op_kind(*op) {
                            Kind::Timestamp => match x.as_str().and_then(parse_timestamp) {
                                Some(t) => Operand::Timestamp(t),
                                None => return Ok(false),
                            },
                            _ => Operand::Value(x),
                        };
                        &rhs_owned
                    }
                    r => r,
                };
                Ok(compare(v, *op, rhs))
            }
        }
    }
}

enum Kind {
    Str,
    Num,
    Timestamp,
    Other,
}

fn op_kind(op: Op) -> Kind {
    use Op::*;
    match op {
        StringEquals | StringLessThan | StringGreaterThan | StringLessThanEquals | StringGreaterThanEquals => Kind::Str,
        NumericEquals | NumericLessThan | NumericGreaterThan | NumericLessThanEquals | NumericGreaterThanEquals => {
            Kind::Num
        }
        TimestampEquals
        | TimestampLessThan
        | TimestampGreaterThan
        | TimestampLessThanEquals
        | TimestampGreaterThanEquals => Kind::Timestamp,
        _ => Kind::Other,
    }
}

fn rhs_bool(r: &Operand) -> Option<bool> {
    match r {
        Operand::Value(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn ord_matches(op: Op, o: Ordering) -> bool {
    use Op::*;
    match op {
        StringEquals | NumericEquals | TimestampEquals => o == Ordering::Equal,
        StringLessThan | NumericLessThan | TimestampLessThan => o == Ordering::Less,
        StringGreaterThan | NumericGreaterThan | TimestampGreaterThan => o == Ordering::Greater,
        StringLessThanEquals | NumericLessThanEquals | TimestampLessThanEquals => o != Ordering::Greater,
        StringGreaterThanEquals | NumericGreaterThanEquals | TimestampGreaterThanEquals => o != Ordering::Less,
        _ => false,
    }
}

fn compare(v: &Value, op: Op, rhs: &Operand) -> bool {
    use Op::*;
    match (op_kind(op), rhs) {
        (Kind::Str, Operand::Value(Value::String(r))) => v.as_str().is_some_and(|s| ord_matches(op, s.cmp(r.as_str()))),
        (Kind::Num, Operand::Value(Value::Number(r))) => match (v.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) if v.is_number() => a.partial_cmp(&b).is_some_and(|o| ord_matches(op, o)),
            _ => false,
        },
        (Kind::Timestamp, Operand::Timestamp(t)) => v
            .as_str()
            .and_then(parse_timestamp)
            .is_some_and(|a| ord_matches(op, a.cmp(t))),
        (Kind::Other, _) => match op {
            StringMatches => match (v.as_str(), rhs) {
                (Some(s), Operand::Pattern(p)) => matches_pattern(s, p),
                _ => false,
            },
            BooleanEquals => match (v, rhs) {
                (Value::Bool(a), Operand::Value(Value::Bool(b))) => a == b,
                _ => false,
            },
            IsNull => Some(v.is_null()) == rhs_bool(rhs),
            IsNumeric => Some(v.is_number()) == rhs_bool(rhs),
            IsString => Some(v.is_string()) == rhs_bool(rhs),
            IsBoolean => Some(v.is_boolean()) == rhs_bool(rhs),
            IsTimestamp => Some(v.as_str().and_then(parse_timestamp).is_some()) == rhs_bool(rhs),
            _ => false,
        },
        _ => false,
    }
}

/// Parses a timestamp as Step Functions accepts it: RFC 3339 with an
/// uppercase `T` and an uppercase `Z` or a numeric offset.
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.as_bytes().get(10) != Some(&b'T') || s.ends_with('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

fn compile_pattern(s: &str) -> Vec<PatTok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => lit.push(n),
                None => lit.push('\\'),
            },
            '*' => {
                if !lit.is_empty() {
                    toks.push(PatTok::Lit(std::mem::take(&mut lit)));
                }
                if toks.last() != Some(&PatTok::Star) {
                    toks.push(PatTok::Star);
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(PatTok::Lit(lit));
    }
    toks
}

fn matches_pattern(s: &str, p: &[PatTok]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((PatTok::Lit(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|r| matches_pattern(r, rest)),
        Some((PatTok::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            s.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(s.len()))
                .any(|i| matches_pattern(&s[i..], rest))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct S(Value);
    impl Scope for S {
        fn input(&self) -> &Value {
            &self.0
        }
        fn context(&self) -> &Value {
            &self.0
        }
        fn random(&self) -> u64 {
            0
        }
    }

    fn rule(v: Value) -> Rule {
        let mut d = Diags::default();
        let r = Rule::compile(&v, "", false, &mut d);
        assert!(d.is_empty(), "{:?}", d);
        r.unwrap()
    }

    #[test]
    fn operators() {
        let i = S(
            json!({"s": "abc", "n": 5, "b": true, "t": "2024-01-01T00:00:00Z", "z": null, "m": 5.0, "f": "log-*.txt"}),
        );
        let yes = [
            json!({"Variable": "$.s", "StringEquals": "abc"}),
            json!({"Variable": "$.s", "StringLessThan": "abd"}),
            json!({"Variable": "$.s", "StringGreaterThanEquals": "abc"}),
            json!({"Variable": "$.s", "StringMatches": "a*c"}),
            json!({"Variable": "$.s", "StringMatches": "*"}),
            json!({"Variable": "$.f", "StringMatches": "log-\\*.txt"}),
            json!({"Variable": "$.n", "NumericEquals": 5}),
            json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}),
            json!({"Variable": "$.n", "NumericLessThanEquals": 5.5}),
            json!({"Variable": "$.b", "BooleanEquals": true}),
            json!({"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:01Z"}),
            json!({"Variable": "$.t", "TimestampEquals": "2024-01-01T01:00:00+01:00"}),
            json!({"Variable": "$.z", "IsNull": true}),
            json!({"Variable": "$.q", "IsPresent": false}),
            json!({"Variable": "$.t", "IsTimestamp": true}),
            json!({"Variable": "$.s", "IsTimestamp": false}),
            json!({"Variable": "$.n", "IsNumeric": true}),
            json!({"Variable": "$.s", "IsString": true}),
            json!({"Variable": "$.b", "IsBoolean": true}),
            json!({"Not": {"Variable": "$.s", "StringEquals": "x"}}),
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.b", "BooleanEqualsPath": "$.b"}]}),
            json!({"Or": [{"Variable": "$.n", "NumericGreaterThan": 10}, {"Variable": "$.s", "StringEqualsPath": "$.s"}]}),
        ];
        for r in yes {
            assert!(rule(r.clone()).eval(&i).unwrap(), "{r}");
        }
        let no = [
            json!({"Variable": "$.n", "StringEquals": "5"}),
            json!({"Variable": "$.s", "NumericEquals": 5}),
            json!({"Variable": "$.s", "StringMatches": "a*d"}),
            json!({"Variable": "$.f", "StringMatches": "log-\\*.txt.gz"}),
            json!({"Variable": "$.s", "TimestampEquals": "2024-01-01T00:00:00Z"}),
        ];
        for r in no {
            assert!(!rule(r.clone()).eval(&i).unwrap(), "{r}");
        }
        let e = rule(json!({"Variable": "$.missing", "StringEquals": "x"}))
            .eval(&i)
            .unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    }

    #[test]
    fn compile_errors() {
        for bad in [
            json!({"Variable": "$.a"}),
            json!({"Variable": "$.a", "StringEquals": 1}),
            json!({"Variable": "$.a", "NumericEquals": 1, "StringEquals": "x"}),
            json!({"Variable": "$.a", "TimestampEquals": "yesterday"}),
            json!({"Variable": "$.a", "IsNullPath": "$.b"}),
            json!({"Variable": "$.a", "Bogus": 1}),
            json!({"And": []}),
            json!({"Variable": "a", "IsNull": true}),
        ] {
            let mut d = Diags::default();
            Rule::compile(&bad, "", false, &mut d);
            assert!(!d.is_empty(), "{bad}");
        }
    }
}
