//! JSONPath as Amazon States Language uses it.
//!
//! Step Functions evaluates paths with Jayway JsonPath semantics: a *definite*
//! path (only names and single indexes) yields one value or fails with "no
//! results"; an *indefinite* path (wildcards, slices, unions, filters,
//! recursive descent) yields a JSON array of every match, possibly empty.
//! The maintained Rust crates implement RFC 9535, which always yields a node
//! list and has a different filter grammar (`?@.a` rather than Jayway's
//! `?(@.a)`), so this module is our own: a small parser that compiles a path
//! once, at definition load time, into a list of segments, and an evaluator
//! that borrows from the document instead of cloning it.

use serde_json::{Map, Value};
use std::fmt;

/// Which document a path is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's (effective) input.
    Input,
    /// `$$`: the Context object.
    Context,
    /// `$$.Execution.Input` and below: the execution input, read in place
    /// rather than through a copy inside the Context object (the path's
    /// segments are those after `Input`).
    ExecutionInput,
}

/// One step of a compiled path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    /// `.name` or `['name']`.
    Name(String),
    /// `[n]`; negative counts from the end.
    Index(i64),
    /// `.*` or `[*]`.
    Wildcard,
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `['a','b']` or `[0,1]`.
    Union(Vec<Key>),
    /// `..` followed by the selector it applies to every descendant.
    Descend(Box<Seg>),
    /// `[?(expr)]`.
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Name(String),
    Index(i64),
}

/// A filter expression inside `[?( ... )]`.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `@.a` alone: true when the path exists (and is not `false`/`null`? no: exists).
    Exists(Operand),
    Cmp(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@...` relative to the current item.
    Current(Vec<Seg>),
    /// `$...` absolute.
    Absolute(Vec<Seg>),
    Literal(Value),
}

/// A compiled JSONPath.
#[derive(Clone, PartialEq)]
pub struct Path {
    text: Box<str>,
    root: Root,
    segs: Vec<Seg>,
    definite: bool,
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({})", self.text)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a path could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath '{path}': {reason}")]
pub struct PathSyntaxError {
    /// The path as written.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A Reference Path could not be written: a step met a non-object or an
/// index out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the path does not lead to a writable location")]
pub struct PathSetError;

/// The result of evaluating a path.
#[derive(Debug)]
pub enum Selection<'a> {
    /// A definite path's value.
    One(&'a Value),
    /// An indefinite path's matches, in document order.
    Many(Vec<&'a Value>),
}

impl Selection<'_> {
    /// The selection as an owned JSON value (an array for indefinite paths).
    pub fn to_value(&self) -> Value {
        match self {
            Selection::One(v) => (*v).clone(),
            Selection::Many(vs) => Value::Array(vs.iter().map(|v| (*v).clone()).collect()),
        }
    }
}

impl Path {
    /// Compiles a path starting with `$` or `$$`.
    pub fn parse(text: &str) -> Result<Path, PathSyntaxError> {
        let err = |reason: &str| PathSyntaxError {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let (root, rest) = if let Some(r) = text.strip_prefix("$$") {
            (Root::Context, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (Root::Input, r)
        } else {
            return Err(err("a path must start with '$' or '$$'"));
        };
        let mut p = Parser {
            s: rest.as_bytes(),
            src: rest,
            i: 0,
        };
        let segs = p.segments(false).map_err(|r| err(&r))?;
        if p.i != p.s.len() {
            return Err(err(&format!("unexpected '{}'", &rest[p.i..])));
        }
        let (root, segs) = match (root, segs.as_slice()) {
            (Root::Context, [Seg::Name(e), Seg::Name(i), ..]) if e == "Execution" && i == "Input" => {
                (Root::ExecutionInput, segs[2..].to_vec())
            }
            _ => (root, segs),
        };
        let definite = segs.iter().all(|s| matches!(s, Seg::Name(_) | Seg::Index(_)));
        Ok(Path {
            text: text.into(),
            root,
            segs,
            definite,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which document the path reads.
    pub fn root(&self) -> Root {
        self.root
    }

    /// True when the path reads the Context object (`$$...`).
    pub fn reads_context(&self) -> bool {
        self.root != Root::Input
    }

    /// For a [`Root::Context`] path: true when it may select
    /// `$$.Execution.Input` (or a document containing it: `$$`,
    /// `$$.Execution`, wildcards, descent), so the Context object it reads
    /// must include the execution input.
    pub fn needs_execution_input(&self) -> bool {
        match self.segs.as_slice() {
            [Seg::Name(e)] if e == "Execution" => true,
            [Seg::Name(e), Seg::Name(_), ..] if e == "Execution" => false,
            [Seg::Name(e), ..] => e == "Execution",
            _ => true,
        }
    }

    /// True when the path can only ever select one value.
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// True for a Reference Path: definite and rooted at `$`, so it can be
    /// written to (ResultPath).
    pub fn is_reference(&self) -> bool {
        self.definite && self.root == Root::Input
    }

    /// True for `$` alone.
    pub fn is_root(&self) -> bool {
        self.root == Root::Input && self.segs.is_empty()
    }

    /// Evaluates the path. `None` means a definite path found nothing.
    pub fn select<'a>(&self, doc: &'a Value) -> Option<Selection<'a>> {
        if self.definite {
            let mut cur = doc;
            for s in &self.segs {
                cur = match s {
                    Seg::Name(n) => cur.as_object()?.get(n.as_str())?,
                    Seg::Index(i) => {
                        let a = cur.as_array()?;
                        a.get(norm_index(*i, a.len())?)?
                    }
                    _ => unreachable!("definite paths hold names and indexes only"),
                };
            }
            Some(Selection::One(cur))
        } else {
            let mut out = Vec::new();
            walk(&self.segs, doc, doc, &mut out);
            Some(Selection::Many(out))
        }
    }

    /// Evaluates the path and clones the result.
    pub fn select_value(&self, doc: &Value) -> Option<Value> {
        self.select(doc).map(|s| s.to_value())
    }

    /// Moves the selected value out of an owned document, avoiding a clone
    /// for definite paths.
    pub fn take(&self, mut doc: Value) -> Option<Value> {
        if !self.definite {
            return self.select_value(&doc);
        }
        let mut cur = &mut doc;
        for s in &self.segs {
            cur = match s {
                Seg::Name(n) => cur.as_object_mut()?.get_mut(n.as_str())?,
                Seg::Index(i) => {
                    let a = cur.as_array_mut()?;
                    let len = a.len();
                    a.get_mut(norm_index(*i, len)?)?
                }
                _ => unreachable!(),
            };
        }
        Some(cur.take())
    }

    /// Writes `value` at this Reference Path inside `doc`, creating missing
    /// objects on the way. Fails when a step meets a non-object (or an
    /// array index out of range).
    pub fn set(&self, doc: &mut Value, value: Value) -> Result<(), PathSetError> {
        debug_assert!(self.is_reference());
        let Some((last, init)) = self.segs.split_last() else {
            *doc = value;
            return Ok(());
        };
        let mut cur = doc;
        for s in init {
            cur = match s {
                Seg::Name(n) => {
                    let o = cur.as_object_mut().ok_or(PathSetError)?;
                    if !o.contains_key(n.as_str()) {
                        o.insert(n.clone(), Value::Object(Map::new()));
                    }
                    o.get_mut(n.as_str()).ok_or(PathSetError)?
                }
                Seg::Index(i) => {
                    let a = cur.as_array_mut().ok_or(PathSetError)?;
                    let len = a.len();
                    a.get_mut(norm_index(*i, len).ok_or(PathSetError)?)
                        .ok_or(PathSetError)?
                }
                _ => return Err(PathSetError),
            };
        }
        match last {
            Seg::Name(n) => {
                cur.as_object_mut().ok_or(PathSetError)?.insert(n.clone(), value);
            }
            Seg::Index(i) => {
                let a = cur.as_array_mut().ok_or(PathSetError)?;
                let len = a.len();
                *a.get_mut(norm_index(*i, len).ok_or(PathSetError)?)
                    .ok_or(PathSetError)? = value;
            }
            _ => return Err(PathSetError),
        }
        Ok(())
    }
}

fn norm_index(i: i64, len: usize) -> Option<usize> {
    if i >= 0 {
        Some(i as usize)
    } else {
        let j = len as i64 + i;
        (j >= 0).then_some(j as usize)
    }
}

fn walk<'a>(segs: &[Seg], root: &'a Value, cur: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((seg, rest)) = segs.split_first() else {
        out.push(cur);
        return;
    };
    match seg {
        Seg::Descend(inner) => {
            // Apply `inner` at this node and at every descendant, in document order.
            let mut nodes = Vec::new();
            descendants(cur, &mut nodes);
            for n in nodes {
                apply(inner, root, n, &mut |v| walk(rest, root, v, out));
            }
        }
        _ => apply(seg, root, cur, &mut |v| walk(rest, root, v, out)),
    }
}

fn descendants<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    match v {
        Value::Object(o) => o.values().for_each(|c| descendants(c, out)),
        Value::Array(a) => a.iter().for_each(|c| descendants(c, out)),
        _ => {}
    }
}

fn apply<'a>(seg: &Seg, root: &'a Value, cur: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    match seg {
        Seg::Name(n) => {
            if let Some(v) = cur.as_object().and_then(|o| o.get(n.as_str())) {
                f(v)
            }
        }
        Seg::Index(i) => {
            if let Some(a) = cur.as_array() {
                if let Some(v) = norm_index(*i, a.len()).and_then(|j| a.get(j)) {
                    f(v)
                }
            }
        }
        Seg::Wildcard => match cur {
            Value::Object(o) => o.values().for_each(f),
            Value::Array(a) => a.iter().for_each(f),
            _ => {}
        },
        Seg::Slice(start, end, step) => {
            if let Some(a) = cur.as_array() {
                for j in slice_indexes(a.len(), *start, *end, *step) {
                    f(&a[j])
                }
            }
        }
        Seg::Union(keys) => {
            for k in keys {
                match k {
                    Key::Name(n) => apply(&Seg::Name(n.clone()), root, cur, f),
                    Key::Index(i) => apply(&Seg::Index(*i), root, cur, f),
                }
            }
        }
        Seg::Filter(flt) => match cur {
            Value::Array(a) => a.iter().filter(|v| eval_filter(flt, root, v)).for_each(f),
            Value::Object(o) => o.values().filter(|v| eval_filter(flt, root, v)).for_each(f),
            _ => {}
        },
        Seg::Descend(_) => unreachable!("descend is handled by walk"),
    }
}

fn slice_indexes(len: usize, start: Option<i64>, end: Option<i64>, step: Option<i64>) -> Vec<usize> {
    let len = len as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return Vec::new();
    }
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let mut out = Vec::new();
    if step > 0 {
        let (s, e) = (norm(start.unwrap_or(0)), norm(end.unwrap_or(len)));
        let mut i = s;
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let s = start
            .map(|i| if i < 0 { len + i } else { i.min(len - 1) })
            .unwrap_or(len - 1);
        let e = end.map(|i| if i < 0 { (len + i).max(-1) } else { i }).unwrap_or(-1);
        let mut i = s;
        while i > e && i >= 0 {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

fn operand_value<'a>(o: &'a Operand, root: &'a Value, cur: &'a Value) -> Option<Value> {
    match o {
        Operand::Literal(v) => Some(v.clone()),
        Operand::Current(segs) | Operand::Absolute(segs) => {
            let base = if matches!(o, Operand::Current(_)) { cur } else { root };
            let definite = segs.iter().all(|s| matches!(s, Seg::Name(_) | Seg::Index(_)));
            let mut out = Vec::new();
            walk(segs, root, base, &mut out);
            if definite {
                out.first().map(|v| (*v).clone())
            } else {
                Some(Value::Array(out.into_iter().cloned().collect()))
            }
        }
    }
}

fn eval_filter(f: &Filter, root: &Value, cur: &Value) -> bool {
    match f {
        Filter::Or(a, b) => eval_filter(a, root, cur) || eval_filter(b, root, cur),
        Filter::And(a, b) => eval_filter(a, root, cur) && eval_filter(b, root, cur),
        Filter::Not(a) => !eval_filter(a, root, cur),
        Filter::Exists(o) => operand_value(o, root, cur).is_some(),
        Filter::Cmp(a, op, b) => {
            let (Some(x), Some(y)) = (operand_value(a, root, cur), operand_value(b, root, cur)) else {
                return false;
            };
            compare(&x, *op, &y)
        }
    }
}

fn compare(x: &Value, op: CmpOp, y: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (x, y) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => {
            return match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                _ => false,
            }
        }
    };
    match (op, ord) {
        (_, None) => false,
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
    }
}

struct Parser<'s> {
    s: &'s [u8],
    src: &'s str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Parses segments until the end of input or, inside a filter, until a
    /// character that cannot continue a path.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Seg>, String> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(b'.') => {
                    if self.s.get(self.i + 1) == Some(&b'.') {
                        self.i += 2;
                        let inner = if self.peek() == Some(b'[') {
                            self.bracket()?
                        } else {
                            self.dot_member()?
                        };
                        segs.push(Seg::Descend(Box::new(inner)));
                    } else {
                        self.i += 1;
                        segs.push(self.dot_member()?);
                    }
                }
                Some(b'[') => segs.push(self.bracket()?),
                Some(_) if in_filter => break,
                Some(c) => return Err(format!("unexpected character '{}'", c as char)),
            }
        }
        Ok(segs)
    }

    fn dot_member(&mut self) -> Result<Seg, String> {
        if self.eat(b'*') {
            return Ok(Seg::Wildcard);
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b'.' | b'[' | b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b'(' | b',' | b']' | b'\'' | b'"'
            ) {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return Err("empty member name".into());
        }
        let name = &self.src[start..self.i];
        if name.ends_with("()") || self.peek() == Some(b'(') {
            return Err(format!("functions like '{name}()' are not supported"));
        }
        Ok(Seg::Name(name.to_string()))
    }

    fn bracket(&mut self) -> Result<Seg, String> {
        self.i += 1; // '['
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Seg::Wildcard
            }
            Some(b'?') => {
                self.i += 1;
                self.skip_ws();
                if !self.eat(b'(') {
                    return Err("a filter must look like [?(...)]".into());
                }
                let f = self.filter_or()?;
                self.skip_ws();
                if !self.eat(b')') {
                    return Err("unclosed filter".into());
                }
                Seg::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut keys = vec![Key::Name(self.quoted()?)];
                self.skip_ws();
                while self.eat(b',') {
                    self.skip_ws();
                    keys.push(Key::Name(self.quoted()?));
                    self.skip_ws();
                }
                if keys.len() == 1 {
                    let Some(Key::Name(n)) = keys.pop() else { unreachable!() };
                    Seg::Name(n)
                } else {
                    Seg::Union(keys)
                }
            }
            _ => {
                // index, union of indexes, or slice
                let first = self.int_opt()?;
                self.skip_ws();
                if self.peek() == Some(b':') {
                    self.i += 1;
                    let end = self.int_opt()?;
                    let step = if self.eat(b':') { self.int_opt()? } else { None };
                    Seg::Slice(first, end, step)
                } else {
                    let first = first.ok_or("expected an index, a name, '*', a slice or a filter")?;
                    let mut keys = vec![Key::Index(first)];
                    while self.eat(b',') {
                        self.skip_ws();
                        keys.push(Key::Index(self.int_opt()?.ok_or("expected an index")?));
                        self.skip_ws();
                    }
                    if keys.len() == 1 {
                        Seg::Index(first)
                    } else {
                        Seg::Union(keys)
                    }
                }
            }
        };
        self.skip_ws();
        if !self.eat(b']') {
            return Err("expected ']'".into());
        }
        Ok(seg)
    }

    fn int_opt(&mut self) -> Result<Option<i64>, String> {
        self.skip_ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == start {
            return Ok(None);
        }
        self.src[start..self.i]
            .parse()
            .map(Some)
            .map_err(|_| format!("bad index '{}'", &self.src[start..self.i]))
    }

    fn quoted(&mut self) -> Result<String, String> {
        let q = self
            .peek()
            .filter(|q| matches!(q, b'\'' | b'"'))
            .ok_or("expected a quoted name")?;
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let mut chars = rest.chars();
            match chars.next() {
                None => return Err("unterminated string".into()),
                Some('\\') => {
                    let c = chars.next().ok_or("unterminated string")?;
                    out.push(c);
                    self.i += 1 + c.len_utf8();
                }
                Some(c) if c as u32 == q as u32 => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.src[self.i..].starts_with("||") {
                self.i += 2;
                let right = self.filter_and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            if self.src[self.i..].starts_with("&&") {
                self.i += 2;
                let right = self.filter_unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, String> {
        self.skip_ws();
        if self.peek() == Some(b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat(b'(') {
            let f = self.filter_or()?;
            self.skip_ws();
            if !self.eat(b')') {
                return Err("expected ')' in filter".into());
            }
            return Ok(f);
        }
        let left = self.operand()?;
        self.skip_ws();
        let rest = &self.src[self.i..];
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| rest.starts_with(t));
        match op {
            None => match left {
                Operand::Literal(_) => Err("a filter needs a comparison".into()),
                o => Ok(Filter::Exists(o)),
            },
            Some((t, op)) => {
                self.i += t.len();
                let right = self.operand()?;
                Ok(Filter::Cmp(left, op, right))
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some(b'$') => {
                self.i += 1;
                Ok(Operand::Absolute(self.segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b' ' | b')' | b'&' | b'|' | b'=' | b'!' | b'<' | b'>') {
                        break;
                    }
                    self.i += 1;
                }
                let tok = &self.src[start..self.i];
                serde_json::from_str::<Value>(tok)
                    .ok()
                    .filter(|v| !v.is_object() && !v.is_array())
                    .map(Operand::Literal)
                    .ok_or_else(|| format!("bad literal '{tok}' in filter"))
            }
            None => Err("unexpected end of filter".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        Path::parse(p).unwrap().select_value(v)
    }

    #[test]
    fn definite_paths() {
        let d = json!({"a": {"b": [1, 2, {"c": "x"}]}, "k y": 3});
        assert_eq!(sel("$", &d), Some(d.clone()));
        assert_eq!(sel("$.a.b[2].c", &d), Some(json!("x")));
        assert_eq!(sel("$['k y']", &d), Some(json!(3)));
        assert_eq!(sel("$.a.b[-1].c", &d), Some(json!("x")));
        assert_eq!(sel("$.a.zz", &d), None);
        assert_eq!(sel("$.a.b[9]", &d), None);
        assert!(Path::parse("$.a.b[0]").unwrap().is_reference());
        assert!(!Path::parse("$$.Execution.Id").unwrap().is_reference());
    }

    #[test]
    fn indefinite_paths() {
        let d = json!({"items": [{"p": 5, "n": "a"}, {"p": 15, "n": "b"}, {"p": 25}]});
        assert_eq!(sel("$.items[*].p", &d), Some(json!([5, 15, 25])));
        assert_eq!(sel("$.items[0:2].n", &d), Some(json!(["a", "b"])));
        assert_eq!(sel("$.items[-2:].p", &d), Some(json!([15, 25])));
        assert_eq!(sel("$.items[::-1].p", &d), Some(json!([25, 15, 5])));
        assert_eq!(sel("$.items[0,2].p", &d), Some(json!([5, 25])));
        assert_eq!(sel("$..n", &d), Some(json!(["a", "b"])));
        assert_eq!(sel("$.items[?(@.p > 10)].p", &d), Some(json!([15, 25])));
        assert_eq!(sel("$.items[?(@.n)].p", &d), Some(json!([5, 15])));
        assert_eq!(sel("$.items[?(@.n == 'b' || @.p < 6)].p", &d), Some(json!([5, 15])));
        assert_eq!(sel("$.items[?(@.p >= 15 && @.p != 25)].n", &d), Some(json!(["b"])));
        assert_eq!(sel("$.items[?(@.p > 100)]", &d), Some(json!([])));
        assert_eq!(sel("$.items[?(!(@.p > 10))].p", &d), Some(json!([5])));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "a.b",
            "$.",
            "$[",
            "$['a',\u{d4be}]",
            "$['a',x]",
            "$.a[?(@.x >)]",
            "$.a[x]",
            "$.length()",
            "$..",
            "$.a]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn set_creates_objects() {
        let mut d = json!({"a": 1});
        Path::parse("$.b.c").unwrap().set(&mut d, json!(2)).unwrap();
        assert_eq!(d, json!({"a": 1, "b": {"c": 2}}));
        assert!(Path::parse("$.a.c").unwrap().set(&mut d, json!(2)).is_err());
        let mut s = json!("str");
        assert!(Path::parse("$.x").unwrap().set(&mut s, json!(1)).is_err());
    }

    #[test]
    fn take_moves_out() {
        let d = json!({"a": {"b": [1, 2]}});
        assert_eq!(Path::parse("$.a.b").unwrap().take(d), Some(json!([1, 2])));
    }
}
