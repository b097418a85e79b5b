//! JSONPath as Amazon States Language uses it: the Jayway JsonPath dialect.
//!
//! Step Functions evaluates paths with Jayway JsonPath
//! (`com.jayway.jsonpath`, default configuration). Its grammar and results
//! differ from RFC 9535, which the maintained Rust crates implement (RFC
//! filters are `?@.a`, Jayway's `?(@.a)`; RFC always yields a node list), so
//! this module is our own: a parser that compiles a path once, at definition
//! load time, and an evaluator that borrows from the document instead of
//! cloning it. It follows Jayway 2.x (`PathCompiler`, `FilterCompiler` and
//! the `*PathToken` classes) rather than a stricter reading:
//!
//! - After `$` (or `@` in a filter) come `.name`, `['name']`, `["name"]`,
//!   `['a','b']`, `[n]`, `[n,m]`, `[start:end:step]`, `*`, `[*]`,
//!   `[?(filter)]` and `..` followed by any of those. A dot may also be
//!   followed by a bracket (`$.[0]`, `$.['a b']`, `$.[*].['k', 'v']`), as
//!   Jayway's `readDotToken` hands whatever follows the dot to
//!   `readNextToken`.
//! - Quoted names take Jayway's escapes (`Utils.unescape`): `\'`, `\"`,
//!   `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\uXXXX`; a backslash before any
//!   other character stands for that character.
//! - A *definite* path (only single names and single indexes) yields one
//!   value, or nothing ("No results for path"). A path that ends in a union of
//!   names after only names and indexes (`$['a','b']`) is definite too: it
//!   yields one object holding those of the names that exist. Any other path
//!   is *indefinite* and yields a JSON array of every match, possibly empty;
//!   a union of names before the end selects each name in turn.
//! - A filter applied to an object tests the object itself and yields it when
//!   it matches (`$.store.bicycle[?(@.price > 10)]` is `[bicycle]`); applied
//!   to an array it tests each element. After `..` a filter yields every
//!   object that matches, and the elements of an array that matches as a
//!   whole (Jayway's `ScanPathToken`).
//! - While every step so far selected a single node, a step that cannot apply
//!   fails the whole path, as Jayway throws there: a missing name before the
//!   last step (`$.missing[*]`), an index, slice or union of names on a value
//!   of the wrong type, a filter on a string, number, boolean or null. After
//!   the first step that may select several nodes, such steps just select
//!   nothing.
//!
//! Not supported, and rejected when the definition is loaded: path functions
//! (`length()`, `min()`, ...), the filter operators `=~`, `in`, `nin`,
//! `subsetof`, `anyof`, `noneof`, `size`, `empty` and `contains`, and JSON
//! array or object literals in filters. A dot-notation name ends at any of
//! `. [ ( ) ] , ' " = ! < > & |` and at a space, where Jayway only stops at
//! `.`, `[` and `(`; names with such characters need brackets, as the Step
//! Functions documentation asks. Filters, parentheses and `!` may nest at
//! most [`MAX_NESTING`] levels deep, so that a hostile definition cannot
//! exhaust the stack. Two corner cases of Jayway's deep scan are not
//! reproduced: a scan followed by an index or slice and then by more than one
//! step (Jayway applies the steps after the index to every element), and a
//! scan followed by a filter and more steps where an array itself matches the
//! filter (Jayway then skips the filter for its elements).

use serde_json::{Map, Value};
use std::fmt;

/// How deep filters (`[?(...)]` inside a filter's path), parentheses and `!`
/// may nest in one path. Real paths nest two or three levels; at this bound
/// parsing and evaluating still fit in a 256 KiB stack in a debug build.
pub const MAX_NESTING: usize = 16;

/// The document of a root that is not there (`$$.Map.Item.Value` outside
/// a Map's `ItemSelector`): every path selects nothing in it.
pub static ABSENT: Value = Value::Null;

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
    /// `$$.Map.Item.Value` and below: the Map's current item, read in place
    /// (the path's segments are those after `Value`).
    MapItemValue,
    /// Exactly `$$.Map.Item.Index`: the Map's current index.
    MapItemIndex,
    /// `$name` and below: a workflow variable (see [`Path::variable`]).
    Variable,
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
    /// `['a','b']`: two or more names.
    Names(Vec<String>),
    /// `[0,1]`: two or more indexes.
    Indexes(Vec<i64>),
    /// `..` followed by the step it applies at every depth (never another
    /// `Descend`).
    Descend(Box<Seg>),
    /// `[?(expr)]`.
    Filter(Box<Filter>),
}

impl Seg {
    /// A step that selects at most one node from one node.
    fn is_single(&self) -> bool {
        matches!(self, Seg::Name(_) | Seg::Index(_))
    }

    /// A step that, as the last one, builds one object from the names it
    /// lists (Jayway's multi-property merge).
    fn merges(&self) -> bool {
        match self {
            Seg::Names(_) => true,
            Seg::Descend(inner) => matches!(**inner, Seg::Names(_)),
            _ => false,
        }
    }
}

/// What kind of result a list of steps yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Names and single indexes only: one value or none.
    Definite,
    /// Names and single indexes, then a union of names: one merged object.
    Merged,
    /// Anything else: an array of matches.
    Indefinite,
}

fn shape(segs: &[Seg]) -> Shape {
    match segs.split_last() {
        None => Shape::Definite,
        Some((last, init)) if init.iter().all(Seg::is_single) => {
            if last.is_single() {
                Shape::Definite
            } else if matches!(last, Seg::Names(_)) {
                Shape::Merged
            } else {
                Shape::Indefinite
            }
        }
        Some(_) => Shape::Indefinite,
    }
}

/// A filter expression inside `[?( ... )]`.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    /// `a || b || ...`, kept flat so that a long chain needs no recursion.
    Or(Vec<Filter>),
    /// `a && b && ...`.
    And(Vec<Filter>),
    Not(Box<Filter>),
    /// `@.a` alone: true when the path selects something (even `null` or
    /// `false`).
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
    /// `@...` (relative to the item under test) or `$...` (absolute).
    Path {
        relative: bool,
        segs: Vec<Seg>,
        shape: Shape,
    },
    Literal(Value),
}

/// A compiled JSONPath.
#[derive(Clone, PartialEq)]
pub struct Path {
    text: Box<str>,
    root: Root,
    /// The variable's name for [`Root::Variable`], else empty.
    var: Box<str>,
    segs: Vec<Seg>,
    shape: Shape,
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
    /// Any other result: an indefinite path's matches, or the one object a
    /// path ending in a union of names builds (see [`Matches::to_value`]).
    Many(Matches<'a>),
}

impl Selection<'_> {
    /// The selection as an owned JSON value (an array for indefinite paths).
    pub fn to_value(&self) -> Value {
        match self {
            Selection::One(v) => (*v).clone(),
            Selection::Many(m) => m.to_value(),
        }
    }
}

/// The matches of a path other than a plain definite one.
#[derive(Debug)]
pub struct Matches<'a>(MatchesRepr<'a>);

#[derive(Debug)]
enum MatchesRepr<'a> {
    /// Nodes of the document, in document order.
    Nodes(Vec<&'a Value>),
    /// Objects merged from unions of names, in document order.
    Built(Vec<Value>),
    /// The object a definite path ending in a union of names builds.
    Merged(Value),
}

impl Matches<'_> {
    /// How many values matched (1 for a merged object).
    pub fn len(&self) -> usize {
        match &self.0 {
            MatchesRepr::Nodes(n) => n.len(),
            MatchesRepr::Built(b) => b.len(),
            MatchesRepr::Merged(_) => 1,
        }
    }

    /// True when nothing matched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The matches as a JSON array, or the merged object itself for a
    /// definite path ending in a union of names.
    pub fn to_value(&self) -> Value {
        match &self.0 {
            MatchesRepr::Nodes(n) => Value::Array(n.iter().map(|v| (*v).clone()).collect()),
            MatchesRepr::Built(b) => Value::Array(b.clone()),
            MatchesRepr::Merged(m) => m.clone(),
        }
    }
}

/// Most steps (segments) a path may have: a ResultPath of thousands of
/// names would build a document as deep, which every clone and drop then
/// walks recursively.
pub const MAX_STEPS: usize = 64;

impl Path {
    /// Compiles a path starting with `$` (the input), `$$` (the Context
    /// object) or `$name` (a workflow variable: a letter or `_`, then
    /// letters, digits or `_`).
    pub fn parse(text: &str) -> Result<Path, PathSyntaxError> {
        let err = |reason: &str| PathSyntaxError {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let mut var = "";
        let (root, rest) = if let Some(r) = text.strip_prefix("$$") {
            (Root::Context, r)
        } else if let Some(r) = text.strip_prefix('$') {
            if r.starts_with(|c: char| c.is_alphabetic() || c == '_') {
                let end = r.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(r.len());
                var = &r[..end];
                (Root::Variable, &r[end..])
            } else {
                (Root::Input, r)
            }
        } else {
            return Err(err("a path must start with '$', '$$' or a variable ('$name')"));
        };
        let mut p = Parser {
            s: rest.as_bytes(),
            src: rest,
            i: 0,
            depth: 0,
        };
        let segs = p.segments(false).map_err(|r| err(&r))?;
        if p.i != p.s.len() {
            return Err(err(&format!("unexpected '{}'", &rest[p.i..])));
        }
        let (root, segs) = match (root, segs.as_slice()) {
            (Root::Context, [Seg::Name(e), Seg::Name(i), ..]) if e == "Execution" && i == "Input" => {
                (Root::ExecutionInput, segs[2..].to_vec())
            }
            (Root::Context, [Seg::Name(m), Seg::Name(i), Seg::Name(v), ..])
                if m == "Map" && i == "Item" && v == "Value" =>
            {
                (Root::MapItemValue, segs[3..].to_vec())
            }
            (Root::Context, [Seg::Name(m), Seg::Name(i), Seg::Name(x)])
                if m == "Map" && i == "Item" && x == "Index" =>
            {
                (Root::MapItemIndex, Vec::new())
            }
            _ => (root, segs),
        };
        if segs.len() > MAX_STEPS {
            return Err(err(&format!("more than {MAX_STEPS} steps")));
        }
        let shape = shape(&segs);
        Ok(Path {
            text: text.into(),
            root,
            var: var.into(),
            segs,
            shape,
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
        !matches!(self.root, Root::Input | Root::Variable)
    }

    /// The variable a [`Root::Variable`] path reads (`x` for `$x.a`).
    pub fn variable(&self) -> Option<&str> {
        (self.root == Root::Variable).then_some(&*self.var)
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

    /// True when the path holds only names and single indexes, so it selects
    /// one node or none.
    pub fn is_definite(&self) -> bool {
        self.shape == Shape::Definite
    }

    /// True for a Reference Path: definite and rooted at `$`, so it can be
    /// written to (ResultPath).
    pub fn is_reference(&self) -> bool {
        self.is_definite() && self.root == Root::Input
    }

    /// True for `$` alone.
    pub fn is_root(&self) -> bool {
        self.root == Root::Input && self.segs.is_empty()
    }

    /// Evaluates the path. `None` means a definite path found nothing, or a
    /// step failed where Jayway JsonPath throws (see the module notes).
    pub fn select<'a>(&self, doc: &'a Value) -> Option<Selection<'a>> {
        if std::ptr::eq(doc, &ABSENT) {
            return None;
        }
        match self.shape {
            Shape::Definite => {
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
            }
            Shape::Merged => match evaluate(&self.segs, doc, doc).ok()? {
                Found::Built(mut b) => b.pop().map(|m| Selection::Many(Matches(MatchesRepr::Merged(m)))),
                Found::Nodes(_) => unreachable!("a path ending in a union of names builds objects"),
            },
            Shape::Indefinite => Some(Selection::Many(Matches(match evaluate(&self.segs, doc, doc).ok()? {
                Found::Nodes(n) => MatchesRepr::Nodes(n),
                Found::Built(b) => MatchesRepr::Built(b),
            }))),
        }
    }

    /// Evaluates the path and clones the result.
    pub fn select_value(&self, doc: &Value) -> Option<Value> {
        self.select(doc).map(|s| s.to_value())
    }

    /// Moves the selected value out of an owned document, avoiding a clone
    /// for definite paths.
    pub fn take(&self, mut doc: Value) -> Option<Value> {
        if !self.is_definite() {
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
                _ => unreachable!("definite paths hold names and indexes only"),
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

/// Where Jayway JsonPath throws (`PathNotFoundException` or
/// `InvalidPathException`): the path has no result for this document.
struct Fails;

/// What evaluating a list of steps produced.
enum Found<'a> {
    /// Nodes of the document.
    Nodes(Vec<&'a Value>),
    /// Objects built by a final union of names.
    Built(Vec<Value>),
}

/// Applies `segs` to `start`, one step at a time over the list of current
/// nodes (no recursion per step, so a long path cannot exhaust the stack).
fn evaluate<'a>(segs: &[Seg], root: &'a Value, start: &'a Value) -> Result<Found<'a>, Fails> {
    let mut cur = vec![start];
    // True while every step so far selected at most one node: Jayway's
    // "upstream definite", where a step that cannot apply throws.
    let mut single = true;
    for (k, seg) in segs.iter().enumerate() {
        let last = k + 1 == segs.len();
        if last && seg.merges() {
            let mut built = Vec::new();
            for n in cur {
                merge_step(seg, n, single, &mut built)?;
            }
            return Ok(Found::Built(built));
        }
        let mut next = Vec::new();
        for n in cur {
            step(seg, root, n, single, last, &mut next)?;
        }
        single &= seg.is_single();
        cur = next;
    }
    Ok(Found::Nodes(cur))
}

/// One object holding those of `names` that `o` has, in the order listed.
fn merged(o: &Map<String, Value>, names: &[String]) -> Value {
    let mut m = Map::new();
    for n in names {
        if let Some(v) = o.get(n.as_str()) {
            m.insert(n.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// A final union of names (Jayway's `multiPropertyMergeCase`), possibly
/// after `..`.
fn merge_step(seg: &Seg, node: &Value, single: bool, out: &mut Vec<Value>) -> Result<(), Fails> {
    match seg {
        Seg::Names(names) => match node {
            Value::Object(o) => out.push(merged(o, names)),
            _ if single => return Err(Fails),
            _ => {}
        },
        Seg::Descend(inner) => {
            let Seg::Names(names) = &**inner else {
                unreachable!("only unions of names merge")
            };
            // Jayway's scan only visits objects that hold every name.
            for_each_descendant(node, |n| {
                if let Value::Object(o) = n {
                    if names.iter().all(|k| o.contains_key(k.as_str())) {
                        out.push(merged(o, names));
                    }
                }
            });
        }
        _ => unreachable!("only unions of names merge"),
    }
    Ok(())
}

/// Visits `v` and every value below it in document order (pre-order), with
/// an explicit stack rather than recursion.
fn for_each_descendant<'a>(v: &'a Value, mut f: impl FnMut(&'a Value)) {
    let mut stack = vec![v];
    while let Some(n) = stack.pop() {
        f(n);
        match n {
            Value::Object(o) => stack.extend(o.values().rev()),
            Value::Array(a) => stack.extend(a.iter().rev()),
            _ => {}
        }
    }
}

/// Applies one step to one node. `single` is true when every earlier step
/// selected at most one node; a step that cannot apply then fails the path.
fn step<'a>(
    seg: &Seg,
    root: &'a Value,
    node: &'a Value,
    single: bool,
    last: bool,
    out: &mut Vec<&'a Value>,
) -> Result<(), Fails> {
    let fails = if single { Err(Fails) } else { Ok(()) };
    match seg {
        Seg::Name(n) => match node {
            Value::Object(o) => match o.get(n.as_str()) {
                Some(v) => out.push(v),
                // Jayway: "Missing property in path" unless it is the last step.
                None if !last => return fails,
                None => {}
            },
            _ => return fails,
        },
        Seg::Names(names) => match node {
            Value::Object(o) => out.extend(names.iter().filter_map(|n| o.get(n.as_str()))),
            _ => return fails,
        },
        Seg::Index(_) | Seg::Indexes(_) | Seg::Slice(..) => match node {
            Value::Array(a) => select_in_array(seg, a, out),
            _ => return fails,
        },
        Seg::Wildcard => match node {
            Value::Object(o) => out.extend(o.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Seg::Filter(f) => match node {
            Value::Object(_) => {
                if eval_filter(f, root, node) {
                    out.push(node)
                }
            }
            Value::Array(a) => out.extend(a.iter().filter(|v| eval_filter(f, root, v))),
            // Jayway: "Filter: [?] can not be applied to primitives".
            _ => return fails,
        },
        Seg::Descend(inner) => for_each_descendant(node, |n| match &**inner {
            // Jayway's ScanPathToken tests an object against the filter
            // itself, and an array as a whole before filtering its elements.
            Seg::Filter(f) => {
                if eval_filter(f, root, n) {
                    match n {
                        Value::Object(_) => out.push(n),
                        Value::Array(a) => out.extend(a.iter().filter(|v| eval_filter(f, root, v))),
                        _ => {}
                    }
                }
            }
            // Nothing fails under a scan. The parser never nests `..`.
            inner => {
                let _ = step(inner, root, n, false, last, out);
            }
        }),
    }
    Ok(())
}

fn select_in_array<'a>(seg: &Seg, a: &'a [Value], out: &mut Vec<&'a Value>) {
    match seg {
        Seg::Index(i) => out.extend(norm_index(*i, a.len()).and_then(|j| a.get(j))),
        Seg::Indexes(is) => out.extend(is.iter().filter_map(|i| norm_index(*i, a.len()).and_then(|j| a.get(j)))),
        Seg::Slice(start, end, st) => out.extend(slice_indexes(a.len(), *start, *end, *st).into_iter().map(|j| &a[j])),
        _ => unreachable!("only indexes and slices select in arrays"),
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

/// What a filter operand stands for, borrowed where possible.
enum Val<'a> {
    /// A literal or the value a definite path selects.
    Ref(&'a Value),
    /// The matches of an indefinite path, compared as an array.
    List(Vec<&'a Value>),
    /// Objects built by a union of names.
    Owned(Value),
}

impl<'a> Val<'a> {
    fn single(&self) -> Option<&Value> {
        match self {
            Val::Ref(v) => Some(v),
            Val::Owned(v) => Some(v),
            Val::List(_) => None,
        }
    }

    fn items(&self) -> Option<Vec<&Value>> {
        match self {
            Val::List(l) => Some(l.clone()),
            v => v.single()?.as_array().map(|a| a.iter().collect()),
        }
    }
}

/// The value a filter operand stands for, or `None` when its path selects
/// nothing (Jayway's `UNDEFINED`).
fn operand_value<'a>(o: &'a Operand, root: &'a Value, cur: &'a Value) -> Option<Val<'a>> {
    match o {
        Operand::Literal(v) => Some(Val::Ref(v)),
        Operand::Path { relative, segs, shape } => {
            let base = if *relative { cur } else { root };
            match (shape, evaluate(segs, root, base).ok()?) {
                (Shape::Definite, Found::Nodes(n)) => n.first().map(|v| Val::Ref(v)),
                (Shape::Merged, Found::Built(mut b)) => b.pop().map(Val::Owned),
                (_, Found::Nodes(n)) => Some(Val::List(n)),
                (_, Found::Built(b)) => Some(Val::Owned(Value::Array(b))),
            }
        }
    }
}

/// Evaluates a filter; its recursion is bounded by [`MAX_NESTING`].
fn eval_filter(f: &Filter, root: &Value, cur: &Value) -> bool {
    match f {
        Filter::Or(fs) => fs.iter().any(|f| eval_filter(f, root, cur)),
        Filter::And(fs) => fs.iter().all(|f| eval_filter(f, root, cur)),
        Filter::Not(a) => !eval_filter(a, root, cur),
        Filter::Exists(o) => operand_value(o, root, cur).is_some(),
        Filter::Cmp(a, op, b) => {
            let (Some(x), Some(y)) = (operand_value(a, root, cur), operand_value(b, root, cur)) else {
                return false;
            };
            match (x.single(), y.single()) {
                (Some(x), Some(y)) => compare(x, *op, y),
                // A list equals an array with the same items.
                _ => {
                    let eq = match (x.items(), y.items()) {
                        (Some(p), Some(q)) => p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| a == b),
                        _ => false,
                    };
                    match op {
                        CmpOp::Eq => eq,
                        CmpOp::Ne => !eq,
                        _ => false,
                    }
                }
            }
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
    /// How many filters, parentheses and `!` enclose the current position.
    depth: usize,
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

    /// Enters one more level of nesting, refusing to pass [`MAX_NESTING`].
    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!("nesting deeper than {MAX_NESTING} levels"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Parses segments until the end of input or, inside a filter, until a
    /// character that cannot continue a path.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Seg>, String> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(b'.') => {
                    let descend = self.s.get(self.i + 1) == Some(&b'.');
                    self.i += if descend { 2 } else { 1 };
                    // Jayway reads whatever follows a dot as the next token,
                    // so `.[0]`, `.['a']` and `.[?(...)]` are steps too.
                    let seg = if self.peek() == Some(b'[') {
                        self.bracket()?
                    } else {
                        self.dot_member()?
                    };
                    segs.push(if descend { Seg::Descend(Box::new(seg)) } else { seg });
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
        if self.peek() == Some(b'(') {
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
                self.enter()?;
                let f = self.filter_or()?;
                self.leave();
                self.skip_ws();
                if !self.eat(b')') {
                    return Err("unclosed filter".into());
                }
                Seg::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                self.skip_ws();
                while self.eat(b',') {
                    self.skip_ws();
                    names.push(self.quoted()?);
                    self.skip_ws();
                }
                match names.len() {
                    1 => Seg::Name(names.remove(0)),
                    _ => Seg::Names(names),
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
                    let mut indexes = vec![first];
                    while self.eat(b',') {
                        self.skip_ws();
                        indexes.push(self.int_opt()?.ok_or("expected an index")?);
                        self.skip_ws();
                    }
                    match indexes.len() {
                        1 => Seg::Index(first),
                        _ => Seg::Indexes(indexes),
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

    /// A quoted name or string literal. As in Jayway, a backslash keeps the
    /// next character from ending the string, and [`unescape`] then decodes
    /// the escapes.
    fn quoted(&mut self) -> Result<String, String> {
        let q = self
            .peek()
            .filter(|q| matches!(q, b'\'' | b'"'))
            .ok_or("expected a quoted name")?;
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek() {
                None => return Err("unterminated string".into()),
                // Byte-wise is safe: no byte of a multi-byte UTF-8 character
                // is a backslash or a quote.
                Some(b'\\') => self.i += 2,
                Some(c) if c == q => break,
                Some(_) => self.i += 1,
            }
        }
        let raw = &self.src[start..self.i];
        self.i += 1;
        unescape(raw)
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut terms = vec![self.filter_and()?];
        loop {
            self.skip_ws();
            if self.src[self.i..].starts_with("||") {
                self.i += 2;
                terms.push(self.filter_and()?);
            } else {
                return Ok(if terms.len() == 1 {
                    terms.remove(0)
                } else {
                    Filter::Or(terms)
                });
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut terms = vec![self.filter_unary()?];
        loop {
            self.skip_ws();
            if self.src[self.i..].starts_with("&&") {
                self.i += 2;
                terms.push(self.filter_unary()?);
            } else {
                return Ok(if terms.len() == 1 {
                    terms.remove(0)
                } else {
                    Filter::And(terms)
                });
            }
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, String> {
        self.skip_ws();
        if self.peek() == Some(b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            self.enter()?;
            let f = self.filter_unary()?;
            self.leave();
            return Ok(Filter::Not(Box::new(f)));
        }
        if self.eat(b'(') {
            self.enter()?;
            let f = self.filter_or()?;
            self.leave();
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
            Some(c @ (b'@' | b'$')) => {
                self.i += 1;
                let segs = self.segments(true)?;
                let shape = shape(&segs);
                Ok(Operand::Path {
                    relative: c == b'@',
                    segs,
                    shape,
                })
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

/// Decodes the escapes of a quoted name or string literal as Jayway's
/// `Utils.unescape` does: `\b \f \n \r \t \uXXXX`, and a backslash before any
/// other character (`\'`, `\"`, `\\`, ...) stands for that character.
fn unescape(raw: &str) -> Result<String, String> {
    fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
        let h: String = chars.by_ref().take(4).collect();
        if h.len() != 4 {
            return Err(format!("bad escape '\\u{h}'"));
        }
        u32::from_str_radix(&h, 16).map_err(|_| format!("bad escape '\\u{h}'"))
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // Unreachable from `quoted`, which never ends on a backslash;
            // Jayway keeps a trailing one.
            None => out.push('\\'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hi = hex4(&mut chars)?;
                // Java strings are UTF-16: a character beyond U+FFFF is
                // written as a surrogate pair, `\uD83D\uDE00`.
                let c = if (0xd800..0xdc00).contains(&hi) && chars.as_str().starts_with("\\u") {
                    chars.nth(1);
                    let lo = hex4(&mut chars)?;
                    (0xdc00..0xe000)
                        .contains(&lo)
                        .then(|| char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)))
                        .flatten()
                } else {
                    char::from_u32(hi)
                };
                out.push(c.ok_or_else(|| format!("'\\u{hi:04x}' is not a character on its own"))?);
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        Path::parse(p).unwrap().select_value(v)
    }

    /// Runs `f` on a thread with a 256 KiB stack, the way a hostile input
    /// would meet a server thread with little stack to spare.
    fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(s, f)
                .unwrap()
                .join()
                .unwrap()
        })
    }

    /// Takes a deep document apart one level at a time: dropping it whole
    /// would recurse once per level.
    fn drop_deep(mut v: Value) {
        loop {
            v = match v {
                Value::Object(mut o) => match o.remove("a") {
                    Some(c) => c,
                    None => return,
                },
                Value::Array(mut a) => match a.pop() {
                    Some(c) => c,
                    None => return,
                },
                _ => return,
            }
        }
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
        assert_eq!(sel("$.items[?(!@.n)].p", &d), Some(json!([25])));
    }

    /// Paths from definitions deployed on AWS that once failed validation
    /// here: a dot followed by a bracket.
    #[test]
    fn dot_then_bracket_is_a_step() {
        for p in [
            "$.[0]",
            "$.Snapshots.[0].State",
            "$.[?(@.OU > 0)]",
            "$.[*].['bucket', 'key']",
            "$.['a b']",
            "$..['a']",
            "$.[1:]",
        ] {
            assert!(Path::parse(p).is_ok(), "{p} should parse");
        }
        assert!(Path::parse("$.[0]").unwrap().is_reference());
    }

    /// Results Jayway JsonPath 2.x (what Step Functions runs) gives, with
    /// where each comes from: a test in json-path/JsonPath
    /// (json-path/src/test/java/com/jayway/jsonpath/...) or the class whose
    /// code decides it (json-path/src/main/java/com/jayway/jsonpath/internal/).
    /// `None` is a path Jayway cannot evaluate on that document (it throws
    /// PathNotFoundException or InvalidPathException; Step Functions fails
    /// the state).
    #[test]
    fn jayway_compatibility() {
        let store = json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
                    {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings",
                     "isbn": "0-395-19395-8", "price": 22.99}
                ],
                "bicycle": {"color": "red", "price": 19.95, "dot.notation": "new", "dash-notation": "dashes"}
            },
            "expensive": 10
        });
        let array = json!([{"value": 1}, {"value": 2}]);
        let nested = json!([[{"author": "Nigel Rees"}]]);
        let aws = json!({
            "Snapshots": [{"State": "completed"}, {"State": "pending"}],
            "OUs": [{"OU": 0}, {"OU": 3}],
            "objects": [{"bucket": "b1", "key": "k1", "size": 1}, {"bucket": "b2", "key": "k2"}]
        });
        let esc = json!({"a'b": 1, "a\\b": 2, "a\"b": 3, "tab\there": 4, "A": 5, "aqb": 6, "\u{1f600}": 7});
        let logs = json!({"logs": [{"message": "it's here"}, {"message": "it\\"}, {"message": "other"}]});
        let b = &store["store"]["book"];
        let bicycle = &store["store"]["bicycle"];
        #[rustfmt::skip]
        let table: Vec<(&str, &Value, Option<Value>, &str)> = vec![
            // A dot followed by a bracket: PathCompiler.readDotToken hands the bracket to readNextToken.
            (r"$.[1].value", &array, Some(json!(2)), "old/JsonPathTest.filter_an_array_on_index"),
            (r"$.[?(@.value == 1)]", &array, Some(json!([{"value": 1}])), "old/JsonPathTest.filter_an_array"),
            (r"$.[0].[0].author", &nested, Some(json!("Nigel Rees")), "old/JsonPathTest (itemsInStore)"),
            (r"$.['store'].bicycle.['dot.notation']", &store, Some(json!("new")), "old/JsonPathTest.bracket_notation_can_be_used_in_path"),
            (r"$.['store'].['bicycle'].['dash-notation']", &store, Some(json!("dashes")), "old/JsonPathTest.bracket_notation_can_be_used_in_path"),
            (r"$.Snapshots.[0].State", &aws, Some(json!("completed")), "PathCompiler.readDotToken"),
            (r"$.OUs.[?(@.OU > 0)]", &aws, Some(json!([{"OU": 3}])), "PathCompiler.readDotToken"),
            // A union of names as the last step merges into one object (definite when only
            // names and indexes come before it); before the end it selects each name.
            (r"$.objects.[*].['bucket', 'key']", &aws, Some(json!([{"bucket": "b1", "key": "k1"}, {"bucket": "b2", "key": "k2"}])), "PropertyPathToken.multiPropertyMergeCase"),
            (r"$.store.bicycle['color','price']", &store, Some(json!({"color": "red", "price": 19.95})), "OptionsTest.multi_properties_are_merged_by_default"),
            (r"$.store.bicycle['color','gears']", &store, Some(json!({"color": "red"})), "PathToken.handleObjectProperty (missing names are left out)"),
            (r"$.store.book['author','price']", &store, None, "PropertyPathToken.evaluate (not an object, upstream definite)"),
            (r"$.store['book','bicycle'].price", &store, Some(json!([19.95])), "PropertyPathToken.multiPropertyIterationCase"),
            // Filters on objects, arrays and other values: PredicatePathToken.evaluate.
            (r"$.store.bicycle[?(@.price > 10)]", &store, Some(json!([bicycle])), "PredicatePathToken.evaluate (a matching map is the result)"),
            (r"$.store.bicycle[?(@.price > 100)]", &store, Some(json!([])), "PredicatePathToken.evaluate"),
            (r"$.store[?(@.bicycle)].bicycle.color", &store, Some(json!(["red"])), "PredicatePathToken.evaluate"),
            (r"$.store.book[?(@.price > 10)].title", &store, Some(json!(["Sword of Honour", "The Lord of the Rings"])), "PredicatePathToken.evaluate (arrays: each element)"),
            (r"$.store.bicycle.color[?(@ == 'red')]", &store, None, "PredicatePathToken.evaluate (primitives, upstream definite)"),
            (r"$.store.book[*].author[?(@ == 'Nigel Rees')]", &store, Some(json!([])), "PredicatePathToken.evaluate (primitives, upstream indefinite)"),
            // Deep scan with a filter: objects are tested themselves, arrays as a whole.
            (r"$..[?(@.bicycle.color)]", &store, Some(json!([&store["store"]])), "old/JsonPathTest.exists_filter_with_nested_path"),
            (r"$..[?(@.bicycle.numberOfGears)]", &store, Some(json!([])), "old/JsonPathTest.exists_filter_with_nested_path"),
            (r"$..[?(@.isbn)]", &store, Some(json!([&b[2]])), "old/internal/ScanPathTokenTest"),
            (r"$..[?(@.price > 10)]", &store, Some(json!([&b[1], &b[2], bicycle])), "ScanPathToken.walkObject / walkArray"),
            (r"$..author", &store, Some(json!(["Nigel Rees", "Evelyn Waugh", "J. R. R. Tolkien"])), "ScanPathToken"),
            // Steps that cannot apply: an error while every step so far was definite.
            (r"$.missing[*]", &store, None, "PathToken.handleObjectProperty (Missing property in path)"),
            (r"$.store.bicycle[0,1]", &store, None, "ArrayPathToken.checkArrayModel"),
            (r"$.store.book[*].author[0]", &store, Some(json!([])), "ArrayPathToken.checkArrayModel (upstream indefinite)"),
            (r"$.store.book[*].missing.deeper", &store, Some(json!([])), "PathToken.handleObjectProperty (upstream indefinite)"),
            (r"$.store.book[100].author", &store, None, "old/JsonPathTest.access_index_out_of_bounds_does_not_throw_exception"),
            // Escapes in quoted names and string literals: Utils.unescape.
            (r"$['a\'b']", &esc, Some(json!(1)), "old/IssuesTest ($.['can\\'t delete']), Utils.unescape"),
            (r#"$["a'b"]"#, &esc, Some(json!(1)), "PathCompiler.readBracketPropertyToken"),
            (r"$['a\\b']", &esc, Some(json!(2)), "Utils.unescape"),
            (r#"$['a\"b']"#, &esc, Some(json!(3)), "Utils.unescape"),
            (r#"$["a\"b"]"#, &esc, Some(json!(3)), "Utils.unescape"),
            (r"$['tab\there']", &esc, Some(json!(4)), "Utils.unescape"),
            (r"$['\u0041']", &esc, Some(json!(5)), "internal/UtilsTest, Utils.unescape"),
            (r"$['a\qb']", &esc, Some(json!(6)), "Utils.unescape (other characters stand for themselves)"),
            (r"$['\ud83d\ude00']", &esc, Some(json!(7)), "Utils.unescape (UTF-16 surrogate pair)"),
            (r"$.logs[?(@.message == 'it\'s here')].message", &logs, Some(json!(["it's here"])), "old/IssuesTest (it\\'s here)"),
            (r"$.logs[?(@.message == 'it\\')].message", &logs, Some(json!(["it\\"])), "PathCompilerTest (it\\\\)"),
        ];
        let mut wrong = Vec::new();
        for (path, doc, want, source) in &table {
            let got = Path::parse(path).map(|p| p.select_value(doc));
            if got.as_ref() != Ok(want) {
                wrong.push(format!("{path}: got {got:?}, Jayway gives {want:?} ({source})"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_merged_union_is_one_value() {
        let d = json!({"a": 1, "b": 2, "c": 3});
        let p = Path::parse("$['a','b']").unwrap();
        assert!(!p.is_definite(), "a union is no Reference Path");
        match p.select(&d) {
            Some(Selection::Many(m)) => {
                assert_eq!(m.len(), 1);
                assert_eq!(m.to_value(), json!({"a": 1, "b": 2}));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.take(d), Some(json!({"a": 1, "b": 2})));
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
            "$...a",
            "$.a]",
            "$.[",
            "$['a\\u00']",
            "$['\\ud800']",
            "$['a",
            "$['a\\']",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn deep_nesting_is_a_syntax_error_on_a_small_stack() {
        let n = 5000;
        let hostile = [
            format!("$.a[?({}@.b == 1{})]", "(".repeat(n), ")".repeat(n)),
            format!("$.a[?({}@.b)]", "!".repeat(n)),
            format!("$.a[?({}(@.b){})]", "!(".repeat(n), ")".repeat(n)),
            format!("${}{}", "[?(@".repeat(n), ")]".repeat(n)),
        ];
        on_small_stack(|| {
            for p in &hostile {
                let e = Path::parse(p).unwrap_err();
                assert!(e.reason.contains("nesting deeper than 16 levels"), "{}", e.reason);
            }
        });
        // At the limit a path still compiles and evaluates on that stack.
        let parens = format!(
            "$.a[?({}@.b == 1{})]",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        let filters = format!("${}{}", "[?(@".repeat(MAX_NESTING), ")]".repeat(MAX_NESTING));
        let d = json!({"a": [{"b": 1}, {"b": 2}]});
        on_small_stack(|| {
            assert_eq!(sel(&parens, &d), Some(json!([{"b": 1}])));
            assert!(Path::parse(&filters).is_ok());
            assert_eq!(sel(&filters, &d), Some(json!([d])));
            assert!(Path::parse(&format!(
                "${}{}",
                "[?(@".repeat(MAX_NESTING + 1),
                ")]".repeat(MAX_NESTING + 1)
            ))
            .is_err());
        });
    }

    #[test]
    fn long_paths_and_deep_documents_need_no_deep_stack() {
        let n = 10_000;
        // A document n levels deep (built here, not parsed: serde_json stops at 128).
        let mut objects = json!(1);
        let mut arrays = json!(1);
        for _ in 0..n {
            let mut m = Map::new();
            m.insert("a".to_string(), objects);
            objects = Value::Object(m);
            arrays = Value::Array(vec![arrays]);
        }
        let long_names = format!("${}", ".a".repeat(MAX_STEPS));
        let long_wildcards = format!("${}", "[*]".repeat(MAX_STEPS));
        on_small_stack(|| {
            // The longest paths allowed walk MAX_STEPS levels down.
            match Path::parse(&long_names).unwrap().select(&objects) {
                Some(Selection::One(v)) => assert!(v.get("a").is_some()),
                other => panic!("{}", other.is_some()),
            }
            match Path::parse(&long_wildcards).unwrap().select(&arrays) {
                Some(Selection::Many(m)) => assert_eq!(m.len(), 1),
                other => panic!("{}", other.is_some()),
            }
            for (p, want) in [("$..a", n), ("$..*", n), ("$..[?(@.a == 1)]", 1), ("$..['a','b']", 0)] {
                let Some(Selection::Many(m)) = Path::parse(p).unwrap().select(&objects) else {
                    panic!("{p}")
                };
                assert_eq!(m.len(), want, "{p}");
            }
        });
        drop_deep(objects);
        drop_deep(arrays);
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

#[cfg(test)]
mod step_limit {
    use super::*;

    #[test]
    fn paths_have_at_most_64_steps() {
        let ok = format!("${}", ".a".repeat(MAX_STEPS));
        assert!(Path::parse(&ok).is_ok());
        let long = format!("${}", ".a".repeat(MAX_STEPS + 1));
        let e = Path::parse(&long).unwrap_err();
        assert!(e.reason.contains("more than 64 steps"), "{e}");
    }
}
