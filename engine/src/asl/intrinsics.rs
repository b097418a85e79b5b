//! The 18 intrinsic functions (`States.Format`, `States.Array`, ...):
//! parsed once into a call tree, evaluated against a [`Scope`].
//!
//! Behaviour follows the Step Functions documentation ("Intrinsic functions
//! for JSONPath states"); where it is silent, executions recorded on AWS
//! decide (LocalStack's parity snapshots, `tests/aws/services/stepfunctions/
//! v2/intrinsic_functions/*.snapshot.json` in localstack/localstack), and
//! where neither says, a comment says so.

use super::error::StateError;
use super::path::Path;
use super::template::Scope;
use base64::Engine as _;
use serde_json::{Map, Number, Value};
use std::fmt;

/// The intrinsic functions, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `States.Format(template, args...)`
    Format,
    /// `States.StringToJson(string)`
    StringToJson,
    /// `States.JsonToString(value)`
    JsonToString,
    /// `States.Array(values...)`
    Array,
    /// `States.ArrayPartition(array, size)`
    ArrayPartition,
    /// `States.ArrayContains(array, value)`
    ArrayContains,
    /// `States.ArrayRange(first, last, step)`
    ArrayRange,
    /// `States.ArrayGetItem(array, index)`
    ArrayGetItem,
    /// `States.ArrayLength(array)`
    ArrayLength,
    /// `States.ArrayUnique(array)`
    ArrayUnique,
    /// `States.Base64Encode(string)`
    Base64Encode,
    /// `States.Base64Decode(string)`
    Base64Decode,
    /// `States.Hash(data, algorithm)`
    Hash,
    /// `States.JsonMerge(a, b, deep)`
    JsonMerge,
    /// `States.MathRandom(start, end[, seed])`
    MathRandom,
    /// `States.MathAdd(a, b)`
    MathAdd,
    /// `States.StringSplit(string, delimiters)`
    StringSplit,
    /// `States.UUID()`
    Uuid,
}

impl Func {
    fn from_name(n: &str) -> Option<Func> {
        Some(match n {
            "Format" => Func::Format,
            "StringToJson" => Func::StringToJson,
            "JsonToString" => Func::JsonToString,
            "Array" => Func::Array,
            "ArrayPartition" => Func::ArrayPartition,
            "ArrayContains" => Func::ArrayContains,
            "ArrayRange" => Func::ArrayRange,
            "ArrayGetItem" => Func::ArrayGetItem,
            "ArrayLength" => Func::ArrayLength,
            "ArrayUnique" => Func::ArrayUnique,
            "Base64Encode" => Func::Base64Encode,
            "Base64Decode" => Func::Base64Decode,
            "Hash" => Func::Hash,
            "JsonMerge" => Func::JsonMerge,
            "MathRandom" => Func::MathRandom,
            "MathAdd" => Func::MathAdd,
            "StringSplit" => Func::StringSplit,
            "UUID" => Func::Uuid,
            _ => return None,
        })
    }

    /// Allowed argument counts (min, max).
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, 1),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, 2),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
            Func::MathRandom => (2, 3),
            Func::Uuid => (0, 0),
        }
    }
}

/// An argument of an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A literal string, number, boolean or null.
    Literal(Value),
    /// A path into the input or the Context object.
    Path(Path),
    /// A nested call.
    Call(Call),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Which function.
    pub func: Func,
    /// Its arguments.
    pub args: Vec<Arg>,
}

/// How deeply intrinsic calls may nest in one field: "You can nest up to 10
/// intrinsic functions within a field" (Step Functions documentation). The
/// bound also keeps a hostile definition from exhausting the parser's stack.
pub const MAX_CALL_NESTING: usize = 10;

/// Why an intrinsic expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrinsicSyntaxError(pub String);

impl fmt::Display for IntrinsicSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Call {
    /// Parses `States.Name(args...)`; the whole string must be one call.
    pub fn parse(text: &str) -> Result<Call, IntrinsicSyntaxError> {
        let mut p = P {
            s: text,
            i: 0,
            depth: 0,
        };
        let c = p
            .call()
            .map_err(|e| IntrinsicSyntaxError(format!("invalid intrinsic function '{text}': {e}")))?;
        p.ws();
        if p.i != text.len() {
            return Err(IntrinsicSyntaxError(format!(
                "invalid intrinsic function '{text}': unexpected '{}' after the call",
                &text[p.i..]
            )));
        }
        Ok(c)
    }

    /// True when any argument (at any depth) reads the Context object.
    pub fn uses_context(&self) -> bool {
        self.args.iter().any(|a| match a {
            Arg::Path(p) => p.reads_context(),
            Arg::Call(c) => c.uses_context(),
            Arg::Literal(_) => false,
        })
    }

    /// Evaluates the call.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Value, StateError> {
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(match a {
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => {
                    let doc = scope.doc_for(p);
                    p.select_value(doc).ok_or_else(|| {
                        StateError::runtime(format!(
                            "The JsonPath argument '{p}' of the intrinsic function {} could not be found in the input",
                            self.func_name()
                        ))
                    })?
                }
                Arg::Call(c) => c.eval(scope)?,
            });
        }
        apply(self.func, vals, scope)
    }

    fn func_name(&self) -> String {
        format!("States.{:?}", self.func).replace("Uuid", "UUID")
    }
}

struct P<'a> {
    s: &'a str,
    i: usize,
    /// How many calls enclose the current position.
    depth: usize,
}

impl P<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn ws(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n']) {
            self.i += 1;
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        self.depth += 1;
        if self.depth > MAX_CALL_NESTING {
            return Err(format!(
                "intrinsic functions nested deeper than {MAX_CALL_NESTING} levels"
            ));
        }
        let call = self.call_body();
        self.depth -= 1;
        call
    }

    fn call_body(&mut self) -> Result<Call, String> {
        self.ws();
        let Some(r) = self.rest().strip_prefix("States.") else {
            return Err("expected 'States.<Function>('".into());
        };
        let name_len = r.find('(').ok_or("expected '('")?;
        let name = r[..name_len].to_string();
        let func = Func::from_name(&name).ok_or_else(|| format!("unknown function 'States.{name}'"))?;
        self.i += "States.".len() + name_len + 1;
        let mut args = Vec::new();
        self.ws();
        if !self.rest().starts_with(')') {
            loop {
                args.push(self.arg()?);
                self.ws();
                if self.rest().starts_with(',') {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        if !self.rest().starts_with(')') {
            return Err("expected ',' or ')'".into());
        }
        self.i += 1;
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            return Err(format!(
                "States.{name} takes {} argument(s), got {}",
                if min == max {
                    min.to_string()
                } else if max == usize::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                },
                args.len()
            ));
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        self.ws();
        let r = self.rest();
        if r.starts_with('\'') {
            return self.string().map(|s| Arg::Literal(Value::String(s)));
        }
        if r.starts_with("States.") {
            return self.call().map(Arg::Call);
        }
        if r.starts_with('$') {
            // A path runs to the next ',' or ')' outside brackets and quotes.
            let (mut depth, mut quote) = (0i32, None::<char>);
            let mut end = r.len();
            for (k, c) in r.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(c),
                    (None, '[' | '(') => depth += 1,
                    (None, ']') => depth -= 1,
                    (None, ')') if depth > 0 => depth -= 1,
                    (None, ',' | ')') if depth == 0 => {
                        end = k;
                        break;
                    }
                    _ => {}
                }
            }
            let text = r[..end].trim_end();
            let path = Path::parse(text).map_err(|e| e.to_string())?;
            self.i += end;
            return Ok(Arg::Path(path));
        }
        let end = r.find([',', ')']).unwrap_or(r.len());
        let tok = r[..end].trim();
        let v: Value = serde_json::from_str(tok).map_err(|_| format!("bad argument '{tok}'"))?;
        if v.is_object() || v.is_array() || v.is_string() {
            return Err(format!("bad argument '{tok}'"));
        }
        self.i += end;
        Ok(Arg::Literal(v))
    }

    /// A single-quoted string with `\'`, `\{`, `\}` and `\\` escapes. The
    /// escapes of braces are kept for States.Format to interpret.
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, n) = chars.next().ok_or("unterminated string")?;
                    match n {
                        '{' | '}' => {
                            out.push('\\');
                            out.push(n);
                        }
                        _ => out.push(n),
                    }
                }
                '\'' => {
                    self.i += k + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, StateError> {
    Err(StateError::intrinsic(msg))
}

/// Java's `Math.round`: the nearest integer, ties towards positive infinity
/// (0.5 -> 1, -0.5 -> 0, -1.5 -> -1).
fn java_round(x: f64) -> f64 {
    let f = x.floor();
    if x - f >= 0.5 {
        f + 1.0
    } else {
        f
    }
}

/// A number argument rounded to the nearest integer. The documentation of
/// States.MathAdd and States.MathRandom: "If you specify a non-integer value
/// ..., Step Functions will round it off to the nearest integer". Executions
/// recorded on AWS show Java's rounding of each argument: MathAdd(1.5, 1.51)
/// is 4, MathAdd(-1.5, -1.51) is -3, MathAdd(-0.5, 0.5) is 1.
fn rounded_int(v: &Value, what: &str) -> Result<i64, StateError> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if java_round(f).abs() < 9.0e15 => Ok(java_round(f) as i64),
        Some(_) => fail(format!("{what} is out of range, got {v}")),
        None => fail(format!("{what} must be a number, got {v}")),
    }
}

/// How States.Format writes a value in place of `{}`. Strings go in as they
/// are, numbers, booleans and null as JSON; objects and arrays, which the
/// documentation does not cover, as AWS was recorded writing them (Java's
/// `Map` and `List` `toString`): `{"Arg1": 1, "Arg2": []}` becomes
/// `{Arg1=1, Arg2=[]}`, with strings inside unquoted.
fn format_arg(v: &Value, out: &mut String) {
    enum Tok<'a> {
        Val(&'a Value),
        Text(&'static str),
        Key(&'a str),
    }
    // An explicit stack: a deep argument needs no deep recursion.
    let mut stack = vec![Tok::Val(v)];
    while let Some(t) = stack.pop() {
        match t {
            Tok::Text(s) => out.push_str(s),
            Tok::Key(k) => {
                out.push_str(k);
                out.push('=');
            }
            Tok::Val(Value::String(s)) => out.push_str(s),
            Tok::Val(Value::Array(a)) => {
                stack.push(Tok::Text("]"));
                for (i, x) in a.iter().enumerate().rev() {
                    stack.push(Tok::Val(x));
                    if i > 0 {
                        stack.push(Tok::Text(", "));
                    }
                }
                stack.push(Tok::Text("["));
            }
            Tok::Val(Value::Object(o)) => {
                stack.push(Tok::Text("}"));
                for (i, (k, x)) in o.iter().enumerate().rev() {
                    stack.push(Tok::Val(x));
                    stack.push(Tok::Key(k));
                    if i > 0 {
                        stack.push(Tok::Text(", "));
                    }
                }
                stack.push(Tok::Text("{"));
            }
            // Numbers keep their JSON text (AWS was recorded writing 1 and
            // 1.1; the documentation says nothing of exponents).
            Tok::Val(v) => out.push_str(&v.to_string()),
        }
    }
}

fn as_int(v: &Value, what: &str) -> Result<i64, StateError> {
    match v.as_i64() {
        Some(i) => Ok(i),
        None => match v.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            _ => fail(format!("{what} must be an integer, got {v}")),
        },
    }
}

fn as_str<'v>(v: &'v Value, what: &str) -> Result<&'v str, StateError> {
    v.as_str()
        .map_or_else(|| fail(format!("{what} must be a string, got {v}")), Ok)
}

fn as_array<'v>(v: &'v Value, what: &str) -> Result<&'v Vec<Value>, StateError> {
    v.as_array()
        .map_or_else(|| fail(format!("{what} must be an array, got {v}")), Ok)
}

/// The lowercase hex digest of `data` with one of the algorithms
/// `States.Hash` and JSONata's `$hash` take (MD5, SHA-1, SHA-256, SHA-384,
/// SHA-512); `None` for another name.
pub(crate) fn hex_digest(alg: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest;
    let bytes: Vec<u8> = match alg {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    let mut s = String::with_capacity(2 * bytes.len());
    crate::asl::push_hex(&mut s, &bytes);
    Some(s)
}

/// Unescapes the `\{` and `\}` the string parser kept.
fn unescape_braces(s: &str) -> String {
    s.replace("\\{", "{").replace("\\}", "}")
}

fn apply(f: Func, mut a: Vec<Value>, scope: &dyn Scope) -> Result<Value, StateError> {
    // Literal strings keep `\{`/`\}` for Format; every other use sees plain braces.
    let fix = |v: Value| match v {
        Value::String(s) if s.contains('\\') => Value::String(unescape_braces(&s)),
        v => v,
    };
    if f != Func::Format {
        a = a.into_iter().map(fix).collect();
    }
    match f {
        Func::Format => {
            let tmpl = as_str(&a[0], "The format string of States.Format")?.to_string();
            let mut out = String::new();
            let mut next = 1;
            let mut chars = tmpl.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if matches!(chars.peek(), Some('{' | '}')) => out.push(chars.next().unwrap_or_default()),
                    '{' if chars.peek() == Some(&'}') => {
                        chars.next();
                        let Some(v) = a.get(next) else {
                            return fail("States.Format has more placeholders '{}' than arguments");
                        };
                        match v {
                            Value::String(s) => out.push_str(&unescape_braces(s)),
                            v => format_arg(v, &mut out),
                        }
                        next += 1;
                    }
                    c => out.push(c),
                }
            }
            if next != a.len() {
                return fail(format!(
                    "States.Format got {} argument(s) for {} placeholder(s)",
                    a.len() - 1,
                    next - 1
                ));
            }
            Ok(Value::String(out))
        }
        Func::StringToJson => {
            let s = as_str(&a[0], "The argument of States.StringToJson")?;
            // Not in the documentation: AWS was recorded returning null for
            // "" and " " (JSON whitespace only), where a JSON parser fails.
            if s.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(s).or_else(|e| fail(format!("States.StringToJson could not parse '{s}': {e}")))
        }
        Func::JsonToString => Ok(Value::String(a[0].to_string())),
        Func::Array => Ok(Value::Array(a)),
        Func::ArrayPartition => {
            let arr = as_array(&a[0], "The first argument of States.ArrayPartition")?;
            let n = as_int(&a[1], "The chunk size of States.ArrayPartition")?;
            if n <= 0 {
                return fail("The chunk size of States.ArrayPartition must be greater than 0");
            }
            Ok(Value::Array(
                arr.chunks(n as usize).map(|c| Value::Array(c.to_vec())).collect(),
            ))
        }
        Func::ArrayContains => {
            let arr = as_array(&a[0], "The first argument of States.ArrayContains")?;
            Ok(Value::Bool(arr.iter().any(|v| json_eq(v, &a[1]))))
        }
        Func::ArrayRange => {
            let (s, e, st) = (
                as_int(&a[0], "The first argument of States.ArrayRange")?,
                as_int(&a[1], "The second argument of States.ArrayRange")?,
                as_int(&a[2], "The step of States.ArrayRange")?,
            );
            if st == 0 {
                return fail("The step of States.ArrayRange must not be 0");
            }
            let mut out = Vec::new();
            let mut i = s;
            while (st > 0 && i <= e) || (st < 0 && i >= e) {
                if out.len() == 1000 {
                    return fail("States.ArrayRange can return at most 1000 items");
                }
                out.push(Value::from(i));
                i += st;
            }
            Ok(Value::Array(out))
        }
        Func::ArrayGetItem => {
            let arr = as_array(&a[0], "The first argument of States.ArrayGetItem")?;
            let i = as_int(&a[1], "The index of States.ArrayGetItem")?;
            if i < 0 || i as usize >= arr.len() {
                return fail(format!(
                    "States.ArrayGetItem index {i} is out of bounds for an array of {}",
                    arr.len()
                ));
            }
            Ok(arr[i as usize].clone())
        }
        Func::ArrayLength => Ok(Value::from(
            as_array(&a[0], "The argument of States.ArrayLength")?.len(),
        )),
        Func::ArrayUnique => {
            let arr = as_array(&a[0], "The argument of States.ArrayUnique")?;
            let mut out: Vec<Value> = Vec::new();
            for v in arr {
                if !out.iter().any(|o| json_eq(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        Func::Base64Encode => {
            let s = as_str(&a[0], "The argument of States.Base64Encode")?;
            if s.chars().count() > 10_000 {
                return fail("The input of States.Base64Encode must be at most 10000 characters");
            }
            Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(s)))
        }
        Func::Base64Decode => {
            let s = as_str(&a[0], "The argument of States.Base64Decode")?;
            if s.chars().count() > 10_000 {
                return fail("The input of States.Base64Decode must be at most 10000 characters");
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|e| fail(format!("States.Base64Decode could not decode '{s}': {e}")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .or_else(|_| fail("States.Base64Decode produced invalid UTF-8"))
        }
        Func::Hash => {
            let data = match &a[0] {
                Value::String(s) => s.clone(),
                Value::Null => return fail("The data of States.Hash must not be null"),
                v => v.to_string(),
            };
            if data.chars().count() > 10_000 {
                return fail("The data of States.Hash must be at most 10000 characters");
            }
            let alg = as_str(&a[1], "The algorithm of States.Hash")?;
            match hex_digest(alg, data.as_bytes()) {
                Some(h) => Ok(Value::String(h)),
                None => fail(format!(
                    "States.Hash does not support the algorithm '{alg}'; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
                )),
            }
        }
        Func::JsonMerge => {
            let deep = a[2]
                .as_bool()
                .map_or_else(|| fail("The third argument of States.JsonMerge must be a boolean"), Ok)?;
            let (Value::Object(mut x), Value::Object(y)) = (a[0].take(), a[1].take()) else {
                return fail("The first two arguments of States.JsonMerge must be objects");
            };
            if deep {
                deep_merge(&mut x, y);
            } else {
                x.extend(y);
            }
            Ok(Value::Object(x))
        }
        Func::MathRandom => {
            let s = rounded_int(&a[0], "The start of States.MathRandom")?;
            let e = rounded_int(&a[1], "The end of States.MathRandom")?;
            // The documentation says neither whether the range may be empty
            // nor what a seed that is not an integer does: both stay errors.
            if e <= s {
                return fail("The end of States.MathRandom must be greater than its start");
            }
            let r = match a.get(2) {
                Some(seed) => splitmix(as_int(seed, "The seed of States.MathRandom")? as u64),
                None => scope.random(),
            };
            // "a random number between the specified start and end number":
            // both ends included, as in AWS's example (1 to 999) and in
            // LocalStack's AWS-validated implementation (Python's randint).
            let span = e.abs_diff(s).saturating_add(1);
            Ok(Value::from(s.wrapping_add((r % span) as i64)))
        }
        Func::MathAdd => {
            let x = rounded_int(&a[0], "The first argument of States.MathAdd")?;
            let y = rounded_int(&a[1], "The second argument of States.MathAdd")?;
            let range = -2_147_483_648..=2_147_483_647;
            if !range.contains(&x) || !range.contains(&y) {
                return fail("The arguments of States.MathAdd must be between -2147483648 and 2147483647");
            }
            Ok(Value::Number(Number::from(x + y)))
        }
        Func::StringSplit => {
            let s = as_str(&a[0], "The first argument of States.StringSplit")?;
            let d = as_str(&a[1], "The delimiter of States.StringSplit")?;
            Ok(Value::Array(
                s.split(|c| d.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ))
        }
        Func::Uuid => Ok(Value::String(uuid_v4(scope.random(), scope.random()))),
    }
}

fn deep_merge(x: &mut Map<String, Value>, y: Map<String, Value>) {
    for (k, v) in y {
        match (x.get_mut(&k), v) {
            (Some(Value::Object(xo)), Value::Object(yo)) => deep_merge(xo, yo),
            (_, v) => {
                x.insert(k, v);
            }
        }
    }
}

/// Formats 128 random bits as a version-4 UUID.
pub fn uuid_v4(hi: u64, lo: u64) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&hi.to_be_bytes());
    b[8..].copy_from_slice(&lo.to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// JSON equality where numbers compare by value (1 == 1.0).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The splitmix64 finaliser: a good, cheap, deterministic mixer.
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::Cell;

    struct S(Value, Value, Cell<u64>);
    impl Scope for S {
        fn input(&self) -> &Value {
            &self.0
        }
        fn context(&self) -> &Value {
            &self.1
        }
        fn random(&self) -> u64 {
            self.2.set(self.2.get() + 1);
            splitmix(self.2.get())
        }
    }

    fn ev(expr: &str, input: Value) -> Result<Value, StateError> {
        Call::parse(expr)
            .unwrap()
            .eval(&S(input, json!({"Execution": {"Name": "ex"}}), Cell::new(0)))
    }

    #[test]
    fn all_functions() {
        let i = json!({"a": [1, 2, 2, 3], "s": "a,b,,c", "n": 5, "name": "World"});
        assert_eq!(
            ev("States.Format('Hello, {}!', $.name)", i.clone()).unwrap(),
            json!("Hello, World!")
        );
        assert_eq!(
            ev("States.Format('\\{{}\\}', $$.Execution.Name)", i.clone()).unwrap(),
            json!("{ex}")
        );
        assert_eq!(
            ev("States.StringToJson('{\"x\": 1}')", i.clone()).unwrap(),
            json!({"x": 1})
        );
        assert_eq!(ev("States.JsonToString($.a)", i.clone()).unwrap(), json!("[1,2,2,3]"));
        assert_eq!(
            ev("States.Array(1, 'x', $.n, null, true)", i.clone()).unwrap(),
            json!([1, "x", 5, null, true])
        );
        assert_eq!(
            ev("States.ArrayPartition($.a, 3)", i.clone()).unwrap(),
            json!([[1, 2, 2], [3]])
        );
        assert_eq!(ev("States.ArrayContains($.a, 3)", i.clone()).unwrap(), json!(true));
        assert_eq!(ev("States.ArrayRange(1, 9, 3)", i.clone()).unwrap(), json!([1, 4, 7]));
        assert_eq!(ev("States.ArrayGetItem($.a, 3)", i.clone()).unwrap(), json!(3));
        assert_eq!(ev("States.ArrayLength($.a)", i.clone()).unwrap(), json!(4));
        assert_eq!(ev("States.ArrayUnique($.a)", i.clone()).unwrap(), json!([1, 2, 3]));
        assert_eq!(
            ev("States.Base64Encode('Data to encode')", i.clone()).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            ev("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", i.clone()).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            ev("States.Hash('input data', 'SHA-1')", i.clone()).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            ev("States.JsonMerge(States.StringToJson('{\"a\":{\"x\":1}}'), States.StringToJson('{\"a\":{\"y\":2}}'), false)", i.clone()).unwrap(),
            json!({"a": {"y": 2}})
        );
        let r = ev("States.MathRandom(1, 10)", i.clone()).unwrap().as_i64().unwrap();
        assert!((1..10).contains(&r));
        assert_eq!(
            ev("States.MathRandom(1, 1000, 7)", i.clone()),
            ev("States.MathRandom(1, 1000, 7)", json!({}))
        );
        assert_eq!(ev("States.MathAdd($.n, -7)", i.clone()).unwrap(), json!(-2));
        assert_eq!(
            ev("States.StringSplit($.s, ',')", i.clone()).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            ev("States.StringSplit('a.b+c', '.+')", i.clone()).unwrap(),
            json!(["a", "b", "c"])
        );
        let u = ev("States.UUID()", i).unwrap();
        let u = u.as_str().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn argument_checks_fail_with_intrinsic_failure() {
        let i = json!({"a": [1], "o": {}});
        for bad in [
            "States.ArrayGetItem($.a, 5)",
            "States.ArrayPartition($.a, 0)",
            "States.ArrayRange(1, 5000, 1)",
            "States.ArrayRange(1, 5, 0)",
            "States.MathAdd('1', 1)",
            "States.MathAdd(1.0e300, 1)",
            "States.MathRandom(5, 4.6)",
            "States.MathAdd(3000000000, 1)",
            "States.StringToJson('{')",
            "States.Format('{} {}', 1)",
            "States.Hash('x', 'SHA-3')",
            "States.ArrayLength($.o)",
            "States.Base64Decode('%%%')",
        ] {
            let e = ev(bad, i.clone()).unwrap_err();
            assert_eq!(e.error, "States.IntrinsicFailure", "{bad}: {e}");
        }
        assert_eq!(
            ev("States.ArrayLength($.missing)", i).unwrap_err().error,
            "States.Runtime"
        );
    }

    /// Recorded on AWS (LocalStack's test_math_operations snapshot): each
    /// argument is rounded as Java's Math.round does, then added.
    #[test]
    fn math_add_rounds_each_argument_half_up() {
        for (x, y, sum) in [
            ("1.49", "1.5", 3),
            ("1.5", "1.51", 4),
            ("-1.49", "-1.5", -2),
            ("-1.5", "-1.51", -3),
            ("0.5", "0", 1),
            ("2.5", "0", 3),
            ("-0.5", "0.5", 1),
            ("-0.5", "0", 0),
            ("-2.5", "0", -2),
            ("-9", "3", -6),
        ] {
            let i = json!({"x": serde_json::from_str::<Value>(x).unwrap()});
            assert_eq!(
                ev(&format!("States.MathAdd($.x, {y})"), i).unwrap(),
                json!(sum),
                "MathAdd({x}, {y})"
            );
        }
    }

    #[test]
    fn math_random_includes_both_ends_and_rounds() {
        let scope = S(json!({"s": 4.5, "e": 5.5}), json!({}), Cell::new(0));
        let mut seen = std::collections::BTreeSet::new();
        for call in ["States.MathRandom(5, 6)", "States.MathRandom($.s, $.e)"] {
            let c = Call::parse(call).unwrap();
            for _ in 0..200 {
                seen.insert(c.eval(&scope).unwrap().as_i64().unwrap());
            }
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [5, 6]);
        let extreme = Call::parse("States.MathRandom(-9223372036854775808, 9223372036854775807, 1)").unwrap();
        assert!(extreme.eval(&scope).unwrap().is_i64());
    }

    /// Recorded on AWS (LocalStack's test_string_to_json snapshot): "" and
    /// " " give null.
    #[test]
    fn string_to_json_of_blank_is_null() {
        let i = json!({"blank": " \t\r\n", "empty": ""});
        assert_eq!(ev("States.StringToJson($.blank)", i.clone()).unwrap(), Value::Null);
        assert_eq!(ev("States.StringToJson($.empty)", i.clone()).unwrap(), Value::Null);
        assert_eq!(ev("States.StringToJson('')", i).unwrap(), Value::Null);
    }

    /// Recorded on AWS (LocalStack's test_generic snapshot): objects and
    /// arrays are written as Java writes maps and lists.
    #[test]
    fn format_writes_objects_and_arrays_as_java_does() {
        let i = json!({
            "o": {"Arg1": 1, "Arg2": []},
            "sm": {"Id": "arn:aws:states:us-east-1:1:stateMachine:m", "Name": "m"},
            "a": [1, "x", null, true, 1.5, {"k": ["v"]}],
            "e": {}
        });
        assert_eq!(
            ev("States.Format('fst={} and snd={}.', $.o, $.o)", i.clone()).unwrap(),
            json!("fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}.")
        );
        assert_eq!(
            ev("States.Format('{}', $.sm)", i.clone()).unwrap(),
            json!("{Id=arn:aws:states:us-east-1:1:stateMachine:m, Name=m}")
        );
        assert_eq!(
            ev("States.Format('{}', $.a)", i.clone()).unwrap(),
            json!("[1, x, null, true, 1.5, {k=[v]}]")
        );
        assert_eq!(
            ev("States.Format('{}{}', $.e, States.Array())", i).unwrap(),
            json!("{}[]")
        );
    }

    #[test]
    fn nesting_is_capped_at_aws_limit() {
        let nest = |n: usize| format!("{}$.a{}", "States.Array(".repeat(n), ")".repeat(n));
        assert!(Call::parse(&nest(MAX_CALL_NESTING)).is_ok());
        let e = Call::parse(&nest(MAX_CALL_NESTING + 1)).unwrap_err();
        assert!(e.0.contains("nested deeper than 10 levels"), "{e}");
        // 5,000 nested calls (a 10 KB request) on a small stack: an error,
        // not a stack overflow.
        let hostile = format!("{}'x'{}", "States.Format(".repeat(5000), ")".repeat(5000));
        let e = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Call::parse(&hostile).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(e.0.contains("nested deeper than 10 levels"), "{e}");
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "States.Nope(1)",
            "States.Array(",
            "States.UUID(1)",
            "States.Format()",
            "Foo.Array()",
            "States.Array($.a]",
            "States.Array('x) ",
        ] {
            assert!(Call::parse(bad).is_err(), "{bad}");
        }
        assert!(Call::parse("States.Array($.a[?(@.x == 'a,b')], 'c')").is_ok());
    }
}
