//! JSONata in ASL (`"QueryLanguage": "JSONata"`): field values whose
//! strings may be `{% ... %}` expressions, compiled once with the machine
//! and evaluated against `$states`, with the functions AWS adds.
//!
//! A field ([`Jt`]) is any JSON value. A string that starts with `{%` and
//! ends with `%}` is an expression (its body trimmed); objects and arrays
//! are walked to any depth; every other value is a literal. A field without
//! an expression is kept as one literal value.
//!
//! Evaluation follows AWS's rules (see `docs/jsonata.md`):
//! - there is no input document (`$` is undefined at the top level); the
//!   state's data is in `$states.input`, `$states.result`,
//!   `$states.errorOutput` and `$states.context`;
//! - an expression that is undefined, anywhere in a field, fails the state
//!   with `States.QueryEvaluationError`, as does one that raises an error;
//! - `$now()` and `$millis()` read the execution's clock, and `$random()`,
//!   `$uuid()` and `$shuffle()` the execution's keyed generator, so a
//!   restored execution computes what the first run would have;
//! - each evaluation is bounded in depth, steps, time and size.
//!
//! What an expression reads of `$states` is found when it is compiled, so
//! only that is built for it: an `Output` that reads `$states.result.id`
//! copies that field, not the whole result, and the Context object is built
//! only for an expression that reads it.

use jlens_core::reads::Read;
use jlens_core::{Bindings, Expression, HostFunction, Options};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What a field reads of `$states`, found without evaluating it.
#[derive(Debug, Clone, Default)]
pub struct StatesRead {
    /// `$states.input`: which parts (`None`: not read).
    pub input: Option<Read>,
    /// `$states.result`: which parts.
    pub result: Option<Read>,
    /// `$states.errorOutput`.
    pub error_output: bool,
    /// `$states.context`: which parts.
    pub context: Option<Read>,
    /// Whether it may call `$random`, `$uuid` or `$shuffle`.
    pub random: bool,
    /// The workflow variables it may read (`$name`), by name, with what
    /// it reads of each.
    pub vars: BTreeMap<String, Read>,
    /// The AWS functions it names (`$partition`, ...): only those are bound.
    pub functions: Vec<&'static str>,
}

impl StatesRead {
    fn union(&mut self, o: &StatesRead) {
        fn unite(a: &mut Option<Read>, b: &Option<Read>) {
            match (a.as_mut(), b) {
                (Some(x), Some(y)) => *x = x.union(y),
                (None, Some(y)) => *a = Some(y.clone()),
                _ => {}
            }
        }
        unite(&mut self.input, &o.input);
        unite(&mut self.result, &o.result);
        unite(&mut self.context, &o.context);
        self.error_output |= o.error_output;
        self.random |= o.random;
        for f in &o.functions {
            if !self.functions.contains(f) {
                self.functions.push(f);
            }
        }
        for (name, r) in &o.vars {
            let mut mine = self.vars.remove(name);
            unite(&mut mine, &Some(r.clone()));
            self.vars.insert(name.clone(), mine.unwrap_or(Read::Whole));
        }
    }

    /// Whether the context it reads includes the execution input (so the
    /// Context object must be built with it).
    pub fn context_needs_input(&self) -> bool {
        match &self.context {
            None => false,
            Some(Read::Whole) => true,
            Some(Read::Fields(m)) => match m.get("Execution") {
                None => false,
                Some(Read::Whole) => true,
                Some(Read::Fields(e)) => e.contains_key("Input"),
            },
        }
    }

    fn of(e: &Expression) -> StatesRead {
        let src = e.source();
        let random = ["$random", "$uuid", "$shuffle"].iter().any(|f| src.contains(f));
        let reads = e.reads();
        let all = || (Some(Read::Whole), Some(Read::Whole), true, Some(Read::Whole));
        let (input, result, error_output, context) = match reads.binding("states") {
            _ if reads.every_binding() => all(),
            None => (None, None, false, None),
            Some(Read::Whole) => all(),
            Some(Read::Fields(m)) => (
                m.get("input").cloned(),
                m.get("result").cloned(),
                m.contains_key("errorOutput"),
                m.get("context").cloned(),
            ),
        };
        let mut vars: BTreeMap<String, Read> = reads
            .bindings()
            .iter()
            .filter(|(k, _)| *k != "states")
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        // The analysis takes `$count` for the built-in function; a variable
        // of that name shadows it (as bindings do in jsonata-js), so every
        // `$name` of the source may be a variable, read whole.
        let mut functions = Vec::new();
        for name in dollar_names(src) {
            if let Some(f) = AWS_FUNCTIONS.iter().find(|f| **f == name) {
                functions.push(*f);
            }
            if name != "states" {
                vars.entry(name).or_insert(Read::Whole);
            }
        }
        StatesRead {
            input,
            result,
            error_output,
            context,
            random,
            vars,
            functions,
        }
    }

    /// Whether the field names `$states.result` itself (not only through a
    /// whole `$states`).
    pub fn names_result(e: &Jt) -> bool {
        e.names(&|m| m.contains_key("result"))
    }

    /// Whether the field names `$states.errorOutput`.
    pub fn names_error_output(e: &Jt) -> bool {
        e.names(&|m| m.contains_key("errorOutput"))
    }
}

/// Every `$name` in an expression's source (a superset of the variables it
/// reads: names in string literals and built-in functions included).
fn dollar_names(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, d)) = chars.peek() {
            if d.is_alphanumeric() || d == '_' {
                end = j + d.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        if end > start && !out.iter().any(|n: &String| n == &src[start..end]) {
            out.push(src[start..end].to_string());
        }
    }
    out
}

/// A compiled `{% ... %}` expression.
#[derive(Clone)]
pub struct Expr {
    compiled: Expression,
}

impl PartialEq for Expr {
    fn eq(&self, o: &Expr) -> bool {
        self.compiled.source() == o.compiled.source()
    }
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{% {} %}}", self.compiled.source())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Value),
    Expr(Box<Expr>),
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
}

/// A field of a JSONata state, compiled.
#[derive(Debug, Clone)]
pub struct Jt {
    node: Node,
    reads: StatesRead,
}

impl PartialEq for Jt {
    fn eq(&self, o: &Jt) -> bool {
        self.node == o.node
    }
}

/// A problem found compiling a field: a JSON pointer below the field, and
/// the message.
pub type Problem = (String, String);

/// Why an evaluation failed: the field's location (`Output/r`) and AWS's
/// cause text.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// Where in the state: `Arguments/FunctionName`.
    pub location: String,
    /// `The JSONata expression '...' specified for the field '...' ...`.
    pub cause: String,
}

/// The body of a `{% ... %}` string, or `None` for a literal. `Err` for a
/// string that opens an expression without closing it, or the reverse.
pub fn expression_body(s: &str) -> Result<Option<&str>, String> {
    match (s.starts_with("{%"), s.ends_with("%}")) {
        (true, true) if s.len() >= 4 => Ok(Some(s[2..s.len() - 2].trim())),
        (true, _) => Err("a JSONata expression must end with '%}' (no trailing spaces)".into()),
        (false, true) if s.trim_start().starts_with("{%") => {
            Err("a JSONata expression must start with '{%' (no leading spaces)".into())
        }
        _ => Ok(None),
    }
}

/// The deepest a field's JSON may nest (a definition is capped in size
/// anyway; this keeps the walk's recursion bounded).
const MAX_NESTING: usize = 256;

impl Jt {
    /// Compiles a field value, listing every problem (with its pointer
    /// below the field).
    pub fn compile(v: &Value) -> Result<Jt, Vec<Problem>> {
        let mut probs = Vec::new();
        let mut reads = StatesRead::default();
        let node = compile_node(v, "", 0, &mut probs, &mut reads);
        if probs.is_empty() {
            Ok(Jt { node, reads })
        } else {
            Err(probs)
        }
    }

    /// The field's value when it holds no expression.
    pub fn literal(&self) -> Option<&Value> {
        match &self.node {
            Node::Literal(v) => Some(v),
            _ => None,
        }
    }

    /// What the field reads of `$states`.
    pub fn reads(&self) -> &StatesRead {
        &self.reads
    }

    fn names(&self, pred: &dyn Fn(&std::collections::BTreeMap<String, Read>) -> bool) -> bool {
        fn walk(n: &Node, pred: &dyn Fn(&std::collections::BTreeMap<String, Read>) -> bool) -> bool {
            match n {
                Node::Literal(_) => false,
                Node::Expr(e) => matches!(e.compiled.reads().binding("states"), Some(Read::Fields(m)) if pred(m)),
                Node::Object(fs) => fs.iter().any(|(_, n)| walk(n, pred)),
                Node::Array(xs) => xs.iter().any(|n| walk(n, pred)),
            }
        }
        walk(&self.node, pred)
    }

    /// The error for a value of the wrong type from this field.
    pub fn type_error(&self, field: &str, expected: &str, v: &Value) -> EvalError {
        let src = match &self.node {
            Node::Expr(e) => e.compiled.source().to_string(),
            _ => String::new(),
        };
        let ty = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        EvalError {
            location: field.to_string(),
            cause: format!(
                "The JSONata expression '{src}' specified for the field '{field}' returned an unexpected result type. Expected '{expected}', but was '{ty}' for value: {v}"
            ),
        }
    }

    /// Evaluates the field; `field` names it in errors (`Output`).
    pub fn eval(&self, env: &Env, field: &str) -> Result<Value, EvalError> {
        let mut loc = field.to_string();
        eval_node(&self.node, env, &mut loc)
    }
}

fn compile_node(v: &Value, at: &str, depth: usize, probs: &mut Vec<Problem>, reads: &mut StatesRead) -> Node {
    if depth > MAX_NESTING {
        probs.push((at.into(), format!("the value nests deeper than {MAX_NESTING} levels")));
        return Node::Literal(Value::Null);
    }
    match v {
        Value::String(s) => match expression_body(s) {
            Ok(None) => Node::Literal(v.clone()),
            Ok(Some(body)) => match Expression::compile(body) {
                Ok(compiled) => {
                    reads.union(&StatesRead::of(&compiled));
                    Node::Expr(Box::new(Expr { compiled }))
                }
                Err(e) => {
                    probs.push((at.into(), format!("the JSONata expression '{body}' is invalid: {e}")));
                    Node::Literal(Value::Null)
                }
            },
            Err(m) => {
                probs.push((at.into(), m));
                Node::Literal(Value::Null)
            }
        },
        Value::Object(o) => {
            let fields: Vec<(String, Node)> = o
                .iter()
                .map(|(k, x)| {
                    let here = format!("{at}/{}", crate::asl::diag::esc(k));
                    (k.clone(), compile_node(x, &here, depth + 1, probs, reads))
                })
                .collect();
            if fields.iter().all(|(_, n)| matches!(n, Node::Literal(_))) {
                Node::Literal(v.clone())
            } else {
                Node::Object(fields)
            }
        }
        Value::Array(a) => {
            let items: Vec<Node> = a
                .iter()
                .enumerate()
                .map(|(i, x)| compile_node(x, &format!("{at}/{i}"), depth + 1, probs, reads))
                .collect();
            if items.iter().all(|n| matches!(n, Node::Literal(_))) {
                Node::Literal(v.clone())
            } else {
                Node::Array(items)
            }
        }
        _ => Node::Literal(v.clone()),
    }
}

fn eval_node(n: &Node, env: &Env, loc: &mut String) -> Result<Value, EvalError> {
    match n {
        Node::Literal(v) => Ok(v.clone()),
        Node::Expr(e) => {
            let src = e.compiled.source();
            let fail = |loc: &str, what: String| EvalError {
                location: loc.to_string(),
                cause: format!("The JSONata expression '{src}' specified for the field '{loc}' {what}"),
            };
            match e.compiled.evaluate_with(None, &env.bindings, &env.options) {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(fail(loc, "returned nothing (undefined).".into())),
                Err(err) => Err(fail(
                    loc,
                    format!("threw an error during evaluation. {}: {}", err.code(), err.message()),
                )),
            }
        }
        Node::Object(fs) => {
            let mut m = Map::with_capacity(fs.len());
            for (k, n) in fs {
                let len = loc.len();
                loc.push('/');
                loc.push_str(k);
                let v = eval_node(n, env, loc)?;
                loc.truncate(len);
                m.insert(k.clone(), v);
            }
            Ok(Value::Object(m))
        }
        Node::Array(xs) => {
            let mut out = Vec::with_capacity(xs.len());
            for (i, n) in xs.iter().enumerate() {
                let len = loc.len();
                loc.push('/');
                loc.push_str(&i.to_string());
                out.push(eval_node(n, env, loc)?);
                loc.truncate(len);
            }
            Ok(Value::Array(out))
        }
    }
}

/// What one state's expressions are evaluated with: `$states`, the AWS
/// functions, the clock, the generator and the limits.
pub struct Env {
    bindings: Bindings,
    options: Options,
}

/// The parts of `$states` a state has; each is built only if the field
/// reads it (see [`Env::new`]).
pub struct States<'a> {
    /// The state's input.
    pub input: &'a Value,
    /// The Task's, Parallel's or Map's result (only for `Output`).
    pub result: Option<&'a Value>,
    /// `{Error, Cause}` (only for a catcher's `Output`).
    pub error_output: Option<&'a Value>,
    /// Builds the Context object, with the execution input if asked.
    pub context: &'a dyn Fn(bool) -> Value,
    /// A workflow variable's value, by name (`None`: not assigned).
    pub var: &'a dyn Fn(&str) -> Option<Value>,
}

/// Bounds of one evaluation. Steps and depth are deterministic; the time
/// limit is the backstop AWS also has.
const MAX_STEPS: u64 = 5_000_000;
const MAX_DEPTH: usize = 1_000;
const MAX_SIZE: usize = 4 << 20;
/// The longest string an evaluation may build: 1 MiB.
const MAX_STRING: usize = 1 << 20;
/// The most items of an array an evaluation may build (a 256 KiB payload
/// holds fewer).
const MAX_ARRAY: usize = 1 << 17;
const TIME_LIMIT: Duration = Duration::from_secs(1);

impl Env {
    /// The environment for a field that reads `reads` of `states`, at
    /// `now_ms`; `random` draws from the execution's generator (called
    /// only if the field may use randomness).
    pub fn new(reads: &StatesRead, states: States<'_>, now_ms: i64, random: &dyn Fn() -> u64) -> Env {
        let mut s = Map::new();
        if let Some(r) = &reads.input {
            s.insert("input".into(), r.cut(states.input));
        }
        if let (Some(r), Some(v)) = (&reads.result, states.result) {
            s.insert("result".into(), r.cut(v));
        }
        if let (true, Some(v)) = (reads.error_output, states.error_output) {
            s.insert("errorOutput".into(), v.clone());
        }
        if let Some(r) = &reads.context {
            s.insert("context".into(), r.cut(&(states.context)(reads.context_needs_input())));
        }
        // Binding a function costs every evaluation: only those named are.
        let mut bindings = Bindings::new();
        for f in &reads.functions {
            if let Some(h) = base_bindings().get_function(f) {
                bindings = bindings.function(*f, h.clone());
            }
        }
        bindings = bindings.var("states", Value::Object(s));
        for (name, r) in &reads.vars {
            if let Some(v) = (states.var)(name) {
                bindings = bindings.var(name.clone(), r.cut(&v));
            }
        }
        let mut options = Options::new()
            .now(now_ms)
            .max_depth(MAX_DEPTH)
            .max_steps(MAX_STEPS)
            .timeout(TIME_LIMIT);
        options.max_result_size = Some(MAX_SIZE);
        options.max_string_length = Some(MAX_STRING);
        options.max_array_length = Some(MAX_ARRAY);
        if reads.random {
            let seed = random();
            options = options.seed(seed);
            let state = Arc::new(AtomicU64::new(seed));
            bindings = bindings
                .function("random", random_fn(state.clone()))
                .function("uuid", uuid_fn(state));
        }
        Env { bindings, options }
    }
}

/// SplitMix64: the generator behind `$random()` and `$uuid()` within one
/// evaluation, seeded from the execution's keyed generator.
fn next(state: &AtomicU64) -> u64 {
    let mut z = state
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn fail(message: impl Into<String>) -> jlens_core::Error {
    jlens_core::Error::new("D3141").with("message", message.into())
}

/// `$random([seed])`: a number in [0, 1); the same seed gives the same number.
fn random_fn(state: Arc<AtomicU64>) -> HostFunction {
    HostFunction::with_signature("<n?:n>", move |args, _| {
        let x = match args.first().and_then(Option::as_ref).and_then(Value::as_f64) {
            Some(seed) => next(&AtomicU64::new(seed.floor() as i64 as u64)),
            None => next(&state),
        };
        Ok(Some(Value::from(unit(x))))
    })
    .expect("a valid signature")
}

/// `$uuid()`: a version 4 UUID.
fn uuid_fn(state: Arc<AtomicU64>) -> HostFunction {
    HostFunction::with_signature("<:s>", move |_, _| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&next(&state).to_le_bytes());
        b[8..].copy_from_slice(&next(&state).to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut hex = String::with_capacity(32);
        crate::asl::push_hex(&mut hex, &b);
        Ok(Some(Value::String(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))))
    })
    .expect("a valid signature")
}

/// The functions AWS adds (and `$eval`, which it removes) that need no
/// generator.
const AWS_FUNCTIONS: [&str; 5] = ["partition", "range", "hash", "parse", "eval"];

/// The AWS functions that need no generator, built once.
fn base_bindings() -> &'static Bindings {
    static BASE: OnceLock<Bindings> = OnceLock::new();
    BASE.get_or_init(|| {
        let f = |sig: &str, imp: fn(&[Option<Value>]) -> Result<Value, jlens_core::Error>| {
            HostFunction::with_signature(sig, move |args, _| imp(args).map(Some)).expect("a valid signature")
        };
        Bindings::new()
            .function("partition", f("<an:a>", partition))
            .function("range", f("<nnn:a>", range))
            .function("hash", f("<ss:s>", hash))
            .function("parse", f("<s:x>", parse))
            // `$eval` is not available on AWS; `$parse` takes its place.
            .function(
                "eval",
                HostFunction::new(1, |_, _| {
                    Err(fail("$eval is not available in Step Functions; use $parse"))
                }),
            )
    })
}

fn int_arg(args: &[Option<Value>], i: usize) -> Option<i64> {
    args.get(i)
        .and_then(Option::as_ref)
        .and_then(Value::as_f64)
        .map(|n| n.floor() as i64)
}

fn partition(args: &[Option<Value>]) -> Result<Value, jlens_core::Error> {
    let items = match args.first().and_then(Option::as_ref) {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    };
    match int_arg(args, 1) {
        Some(n) if n > 0 => Ok(Value::Array(
            items.chunks(n as usize).map(|c| Value::Array(c.to_vec())).collect(),
        )),
        _ => Err(fail("the chunk size of $partition must be a positive integer")),
    }
}

/// The most items `$range` returns (AWS's States.ArrayRange has the same cap).
const MAX_RANGE: usize = 1000;

fn range(args: &[Option<Value>]) -> Result<Value, jlens_core::Error> {
    let (Some(start), Some(end), Some(step)) = (int_arg(args, 0), int_arg(args, 1), int_arg(args, 2)) else {
        return Err(fail("$range takes a start, an end and a step"));
    };
    if step == 0 {
        return Err(fail("the step of $range must not be 0"));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        if out.len() == MAX_RANGE {
            return Err(fail(format!("$range can return at most {MAX_RANGE} items")));
        }
        out.push(Value::from(i));
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(Value::Array(out))
}

fn str_arg(args: &[Option<Value>], i: usize) -> &str {
    args.get(i)
        .and_then(Option::as_ref)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn hash(args: &[Option<Value>]) -> Result<Value, jlens_core::Error> {
    let (data, alg) = (str_arg(args, 0), str_arg(args, 1));
    crate::asl::intrinsics::hex_digest(alg, data.as_bytes())
        .map(Value::String)
        .ok_or_else(|| {
            fail(format!(
                "$hash does not support the algorithm '{alg}'; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
            ))
        })
}

fn parse(args: &[Option<Value>]) -> Result<Value, jlens_core::Error> {
    let s = str_arg(args, 0);
    serde_json::from_str(s).map_err(|e| fail(format!("$parse could not parse its argument as JSON: {e}")))
}

#[cfg(test)]
mod tests;
