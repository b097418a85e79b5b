//! The compiler's walk over state lists, the fields every state shares, and
//! the small field parsers (paths, templates, numbers, targets) that the
//! per-type compilers in `states`, `map` and `retry` use.

use super::jsonata::{JSONATA_ONLY, JSONPATH_ONLY};
use super::{Dynamic, Kind, ListId, PathSpec, ResultPathSpec, Seconds, State, StateId, StateList};
use crate::asl::diag::{esc, Diags};
use crate::asl::intrinsics::Call;
use crate::asl::path::Path;
use crate::asl::template::Template;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const FLOW: &[&str] = &["Next", "End"];
const RESULT: &[&str] = &["ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"];
pub(super) const DISTRIBUTED_ONLY: &[&str] = &[
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "Label",
];

/// The fields a state of type `ty` may have in the given query language;
/// `None` for an unknown type.
fn allowed(ty: &str, jsonata: bool) -> Option<Vec<&'static str>> {
    let mut v = allowed_jsonpath(ty)?;
    if matches!(ty, "Pass" | "Task" | "Choice" | "Wait" | "Parallel" | "Map") {
        v.push("Assign");
    }
    if jsonata {
        v.retain(|f| !JSONPATH_ONLY.contains(f));
        match ty {
            "Task" | "Parallel" => v.extend(["Arguments", "Output"]),
            "Map" => v.extend(["Items", "Output"]),
            "Pass" | "Wait" | "Choice" | "Succeed" => v.push("Output"),
            _ => {}
        }
    }
    Some(v)
}

fn allowed_jsonpath(ty: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&str> = COMMON.to_vec();
    match ty {
        "Pass" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(["ResultPath", "Parameters", "Result"]);
        }
        "Task" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend([
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ]);
        }
        "Choice" => {
            v.extend(IO);
            v.extend(["Choices", "Default"]);
        }
        "Wait" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]);
        }
        "Succeed" => v.extend(IO),
        "Fail" => v.extend(["Error", "ErrorPath", "Cause", "CausePath"]),
        "Parallel" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.push("Branches");
        }
        "Map" => {
            v.extend(IO);
            v.extend(FLOW);
            v.extend(RESULT);
            v.extend([
                "ItemsPath",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "MaxConcurrencyPath",
            ]);
            v.extend(DISTRIBUTED_ONLY);
        }
        _ => return None,
    }
    Some(v)
}

/// One compilation: the diagnostics so far and the arena being filled.
pub(super) struct Compiler {
    pub(super) d: Diags,
    pub(super) states: Vec<State>,
    pub(super) lists: Vec<StateList>,
    /// Every state name seen so far, in any scope (names are machine-wide).
    all_names: HashSet<String>,
    /// The top level's `QueryLanguage` is JSONata: the default of every state.
    pub(super) top_jsonata: bool,
    /// The state being compiled is a JSONata state (set by `compile_state`
    /// before the per-type compilers run; they read it before compiling
    /// nested state lists, which change it).
    pub(super) jsonata: bool,
    /// The state lists being compiled, innermost last.
    list_stack: Vec<ListId>,
    /// Each list's enclosing list.
    list_parent: Vec<Option<ListId>>,
    /// Each list's assigned variables, with where each is assigned.
    assigned: Vec<Vec<(String, String)>>,
}

impl Compiler {
    pub(super) fn new() -> Compiler {
        Compiler {
            d: Diags::default(),
            states: Vec::new(),
            lists: Vec::new(),
            all_names: HashSet::new(),
            top_jsonata: false,
            jsonata: false,
            list_stack: Vec::new(),
            list_parent: Vec::new(),
            assigned: Vec::new(),
        }
    }

    /// Compiles a `StartAt`/`States` scope; returns its id.
    pub(super) fn compile_list(&mut self, o: &Map<String, Value>, at: &str) -> ListId {
        let list_id = self.lists.len() as ListId;
        self.lists.push(StateList { start: 0 });
        self.list_parent.push(self.list_stack.last().copied());
        self.assigned.push(Vec::new());
        self.list_stack.push(list_id);
        self.compile_list_body(o, at, list_id);
        self.list_stack.pop();
        list_id
    }

    /// Notes a variable assigned at `loc` in the current state list.
    pub(super) fn assigned_here(&mut self, name: &str, loc: &str) {
        if let Some(&l) = self.list_stack.last() {
            self.assigned[l as usize].push((name.to_string(), loc.to_string()));
        }
    }

    /// Reports a variable that an inner scope (a Parallel branch or a Map
    /// iteration) assigns while an enclosing scope assigns it too: inner
    /// scopes may read outer variables, not assign them.
    pub(super) fn check_scopes(&mut self) {
        let names: Vec<HashSet<&str>> = self
            .assigned
            .iter()
            .map(|a| a.iter().map(|(n, _)| n.as_str()).collect())
            .collect();
        for l in 0..self.assigned.len() {
            let mut outer = self.list_parent[l];
            while let Some(o) = outer {
                for (name, loc) in &self.assigned[l] {
                    if names[o as usize].contains(name.as_str()) {
                        self.d.err(
                            loc,
                            "SCHEMA_VALIDATION_FAILED",
                            format!("variable '{name}' is assigned in an enclosing scope: a Parallel branch or Map iteration may read it, not assign it"),
                        );
                    }
                }
                outer = self.list_parent[o as usize];
            }
        }
    }

    fn compile_list_body(&mut self, o: &Map<String, Value>, at: &str, list_id: ListId) {
        let Some(states) = o.get("States").and_then(Value::as_object).filter(|s| !s.is_empty()) else {
            self.d.err(
                &format!("{at}/States"),
                "SCHEMA_VALIDATION_FAILED",
                "'States' must be a non-empty object",
            );
            return;
        };
        let base = self.states.len() as StateId;
        let ids = self.reserve(states, at);
        match o.get("StartAt").and_then(Value::as_str) {
            Some(s) => match ids.get(s) {
                Some(id) => self.lists[list_id as usize].start = *id,
                None => self.d.err(
                    &format!("{at}/StartAt"),
                    "MISSING_TRANSITION_TARGET",
                    format!("StartAt '{s}' is not a state in this scope"),
                ),
            },
            None => self.d.err(
                &format!("{at}/StartAt"),
                "SCHEMA_VALIDATION_FAILED",
                "'StartAt' must be a state name",
            ),
        }
        let mut edges: Vec<Vec<StateId>> = vec![Vec::new(); states.len()];
        let mut terminal = false;
        for (i, (name, sv)) in states.iter().enumerate() {
            let here = format!("{at}/States/{}", esc(name));
            let (state, targets, is_terminal) = self.compile_state(name, sv, &here, &ids);
            terminal |= is_terminal;
            edges[i] = targets;
            if let Some(s) = state {
                self.states[(base + i as StateId) as usize] = s;
            }
        }
        if !terminal {
            self.d.err(
                &format!("{at}/States"),
                "MISSING_END_STATE",
                "no state ends the workflow: one needs \"End\": true or Type Succeed or Fail",
            );
        }
        if let Some(start) = o.get("StartAt").and_then(Value::as_str).and_then(|s| ids.get(s)) {
            self.unreachable(states, at, &edges, (start - base) as usize, base);
        }
    }

    /// Reserves an id (and a placeholder state) for every state of a scope
    /// so that `Next` can be resolved while compiling; checks the names.
    fn reserve<'a>(&mut self, states: &'a Map<String, Value>, at: &str) -> HashMap<&'a str, StateId> {
        let base = self.states.len() as StateId;
        let mut ids: HashMap<&str, StateId> = HashMap::new();
        for (i, name) in states.keys().enumerate() {
            let here = format!("{at}/States/{}", esc(name));
            if !self.all_names.insert(name.clone()) {
                self.d.err(
                    &here,
                    "DUPLICATE_STATE_NAME",
                    format!("state name '{name}' is used more than once in the state machine"),
                );
            }
            if name.is_empty() || name.chars().count() > 80 {
                self.d.err(
                    &here,
                    "SCHEMA_VALIDATION_FAILED",
                    "a state name must be 1 to 80 characters long",
                );
            }
            ids.insert(name, base + i as StateId);
            self.states.push(State {
                name: Arc::from(name.as_str()),
                kind: Kind::Succeed,
                input_path: PathSpec::Root,
                output_path: PathSpec::Root,
                result_path: ResultPathSpec::Root,
                parameters: None,
                result_selector: None,
                retry: Vec::new(),
                catch: Vec::new(),
                next: None,
                jsonata: None,
                path_assign: None,
            });
        }
        ids
    }

    /// Reports every state of a scope that is not reachable from `start`
    /// (an index into the scope) along `edges` (ids from `base` on).
    fn unreachable(
        &mut self,
        states: &Map<String, Value>,
        at: &str,
        edges: &[Vec<StateId>],
        start: usize,
        base: StateId,
    ) {
        let mut seen = vec![false; states.len()];
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(edges[i].iter().map(|t| (t - base) as usize));
        }
        for (i, name) in states.keys().enumerate() {
            if !seen[i] {
                self.d.err(
                    &format!("{at}/States/{}", esc(name)),
                    "UNREACHABLE_STATE",
                    format!("state '{name}' is not reachable from StartAt"),
                );
            }
        }
    }

    /// Returns the state (when well-formed enough), its transition targets
    /// and whether it can end the scope.
    fn compile_state(
        &mut self,
        name: &str,
        sv: &Value,
        at: &str,
        ids: &HashMap<&str, StateId>,
    ) -> (Option<State>, Vec<StateId>, bool) {
        let Some(o) = sv.as_object() else {
            self.d.err(at, "SCHEMA_VALIDATION_FAILED", "a state must be an object");
            return (None, Vec::new(), true);
        };
        let Some(ty) = o.get("Type").and_then(Value::as_str) else {
            self.d.err(
                &format!("{at}/Type"),
                "SCHEMA_VALIDATION_FAILED",
                "a state needs a 'Type'",
            );
            return (None, Vec::new(), true);
        };
        let jsonata = match o.get("QueryLanguage") {
            Some(q) => match self.query_language(q, &format!("{at}/QueryLanguage")) {
                Some(false) if self.top_jsonata => {
                    self.d.err(
                        &format!("{at}/QueryLanguage"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                    );
                    true
                }
                Some(j) => j,
                None => self.top_jsonata,
            },
            None => self.top_jsonata,
        };
        let Some(fields) = allowed(ty, jsonata) else {
            self.d.err(
                &format!("{at}/Type"),
                "SCHEMA_VALIDATION_FAILED",
                format!("unknown state type '{ty}'; expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map"),
            );
            return (None, Vec::new(), true);
        };
        let (lang, other) = if jsonata {
            ("JSONata", JSONPATH_ONLY)
        } else {
            ("JSONPath", JSONATA_ONLY)
        };
        for k in o.keys() {
            if !fields.contains(&k.as_str()) {
                let m = if other.contains(&k.as_str()) {
                    format!("field '{k}' is not supported when QueryLanguage is {lang}")
                } else {
                    format!("field '{k}' is not allowed in a {ty} state")
                };
                self.d.err(&format!("{at}/{}", esc(k)), "SCHEMA_VALIDATION_FAILED", m);
            }
        }
        self.jsonata = jsonata;
        let own_assign = if jsonata { None } else { self.path_assign(o, at) };
        let mut rule_assigns = Vec::new();
        let mut targets = Vec::new();
        let (next, mut terminal) = if fields.contains(&"Next") {
            self.next_or_end(o, ty, at, ids)
        } else {
            (None, false)
        };
        targets.extend(next);
        let input_path = self.path_spec(o, "InputPath", at);
        let output_path = self.path_spec(o, "OutputPath", at);
        let result_path = self.result_path(o, at);
        let parameters = o
            .get("Parameters")
            .map(|p| self.template(p, &format!("{at}/Parameters")));
        let result_selector = o
            .get("ResultSelector")
            .map(|p| self.template(p, &format!("{at}/ResultSelector")));
        let retry = self.retriers(o, at);
        let catch = self.catchers(o, at, ids, &mut targets);
        let mut jsonata_fields = jsonata.then(|| Box::new(self.jsonata_fields(o, ty, at)));
        let kind = match ty {
            "Pass" => self.pass(o),
            "Task" => self.task(o, at),
            "Choice" => self.choice(
                o,
                at,
                ids,
                &mut targets,
                jsonata_fields.as_deref_mut(),
                &mut rule_assigns,
            ),
            "Wait" => self.wait(o, at),
            "Succeed" => Kind::Succeed,
            "Fail" => self.fail(o, at),
            "Parallel" => self.parallel(o, at),
            "Map" => self.map(o, at),
            _ => unreachable!("checked by allowed()"),
        };
        terminal |= matches!(kind, Kind::Succeed | Kind::Fail { .. });
        let state = State {
            name: Arc::from(name),
            kind,
            input_path,
            output_path,
            result_path,
            parameters,
            result_selector,
            retry,
            catch,
            next,
            jsonata: jsonata_fields,
            path_assign: (own_assign.is_some() || rule_assigns.iter().any(Option::is_some)).then(|| {
                Box::new(super::PathAssign {
                    state: own_assign,
                    rules: rule_assigns,
                })
            }),
        };
        (Some(state), targets, terminal)
    }

    /// `Next` or `End` of a state that takes them: the `Next` target and
    /// whether the state ends the scope.
    fn next_or_end(
        &mut self,
        o: &Map<String, Value>,
        ty: &str,
        at: &str,
        ids: &HashMap<&str, StateId>,
    ) -> (Option<StateId>, bool) {
        match (o.get("Next"), o.get("End")) {
            (Some(_), Some(_)) => self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "a state cannot have both 'Next' and 'End'",
            ),
            (Some(n), None) => return (self.target(Some(n), &format!("{at}/Next"), ids), false),
            (None, Some(Value::Bool(true))) => return (None, true),
            (None, Some(_)) => self
                .d
                .err(&format!("{at}/End"), "SCHEMA_VALIDATION_FAILED", "'End' must be true"),
            (None, None) => self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                format!("a {ty} state needs 'Next' or \"End\": true"),
            ),
        }
        (None, false)
    }

    /// Reports every field of `o` not in `allowed`.
    pub(super) fn sub_fields(&mut self, o: &Map<String, Value>, at: &str, allowed: &[&str]) {
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                self.d.err(
                    &format!("{at}/{}", esc(k)),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("field '{k}' is not allowed here"),
                );
            }
        }
    }

    /// Resolves a state name in the current scope.
    pub(super) fn target(&mut self, v: Option<&Value>, at: &str, ids: &HashMap<&str, StateId>) -> Option<StateId> {
        match v.and_then(Value::as_str) {
            Some(n) => match ids.get(n) {
                Some(id) => Some(*id),
                None => {
                    self.d.err(
                        at,
                        "MISSING_TRANSITION_TARGET",
                        format!("'{n}' is not a state in this scope"),
                    );
                    None
                }
            },
            None => {
                self.d.err(at, "SCHEMA_VALIDATION_FAILED", "expected a state name");
                None
            }
        }
    }

    /// Checks a `QueryLanguage` field: `Some(true)` for JSONata.
    pub(super) fn query_language(&mut self, q: &Value, at: &str) -> Option<bool> {
        match q.as_str() {
            Some("JSONPath") => Some(false),
            Some("JSONata") => Some(true),
            _ => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'QueryLanguage' must be \"JSONPath\" or \"JSONata\"",
                );
                None
            }
        }
    }

    pub(super) fn positive_int(&mut self, v: &Value, at: &str) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("expected a positive integer, got {v}"),
                );
                None
            }
        }
    }

    pub(super) fn path(&mut self, v: &Value, at: &str) -> Option<Path> {
        match v.as_str().map(Path::parse) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                self.d.err(at, "INVALID_JSON_PATH", e.to_string());
                None
            }
            None => {
                self.d.err(at, "SCHEMA_VALIDATION_FAILED", "expected a JSONPath string");
                None
            }
        }
    }

    /// `InputPath`, `OutputPath` or `ItemsPath`.
    pub(super) fn path_spec(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> PathSpec {
        match o.get(key) {
            None => PathSpec::Root,
            Some(Value::Null) => PathSpec::Null,
            Some(v) => match self.path(v, &format!("{at}/{key}")) {
                Some(p) if p.is_root() => PathSpec::Root,
                Some(p) => PathSpec::Path(p),
                None => PathSpec::Root,
            },
        }
    }

    /// `ResultPath` of a state or a catcher.
    pub(super) fn result_path(&mut self, o: &Map<String, Value>, at: &str) -> ResultPathSpec {
        match o.get("ResultPath") {
            None => ResultPathSpec::Root,
            Some(Value::Null) => ResultPathSpec::Discard,
            Some(v) => match self.path(v, &format!("{at}/ResultPath")) {
                Some(p) if !p.is_reference() => {
                    self.d.err(
                        &format!("{at}/ResultPath"),
                        "INVALID_JSON_PATH",
                        format!("'{p}' is not a Reference Path: ResultPath must start with '$' and select a single node (no '$$', wildcards, filters or slices)"),
                    );
                    ResultPathSpec::Root
                }
                Some(p) if p.is_root() => ResultPathSpec::Root,
                Some(p) => ResultPathSpec::Path(p),
                None => ResultPathSpec::Root,
            },
        }
    }

    pub(super) fn template(&mut self, v: &Value, at: &str) -> Template {
        let mut probs = Vec::new();
        let t = Template::compile(v, &mut probs);
        for p in probs {
            self.d.err(&format!("{at}{}", p.pointer), p.code, p.message);
        }
        t
    }

    /// `key` (a literal string) or `keyPath` (a path or intrinsic); in a
    /// JSONata state, a literal or an expression.
    pub(super) fn dynamic(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> Option<Dynamic> {
        if self.jsonata {
            return self.jsonata_string(o, key, at);
        }
        let path_key = format!("{key}Path");
        match (o.get(key), o.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' and '{path_key}' are mutually exclusive"),
                );
                None
            }
            (Some(Value::String(s)), None) => Some(Dynamic::Literal(s.clone())),
            (Some(_), None) => {
                self.d.err(
                    &format!("{at}/{key}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be a string"),
                );
                None
            }
            (None, Some(v)) => {
                let here = format!("{at}/{path_key}");
                match v.as_str() {
                    Some(s) if s.starts_with("States.") => match Call::parse(s) {
                        Ok(c) => Some(Dynamic::Intrinsic(c)),
                        Err(e) => {
                            self.d.err(&here, "INVALID_INTRINSIC_FUNCTION", e.0);
                            None
                        }
                    },
                    _ => self.path(v, &here).map(Dynamic::Path),
                }
            }
            (None, None) => None,
        }
    }

    /// `key` (a positive integer) or `keyPath`; in a JSONata state, an
    /// integer or an expression.
    pub(super) fn seconds(&mut self, o: &Map<String, Value>, key: &str, at: &str) -> Option<Seconds> {
        if self.jsonata {
            let s = self.jsonata_seconds(o, key, at);
            if let Some(Seconds::Literal(0)) = s {
                self.positive_int(&Value::from(0), &format!("{at}/{key}"));
            }
            return s;
        }
        let path_key = format!("{key}Path");
        match (o.get(key), o.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' and '{path_key}' are mutually exclusive"),
                );
                None
            }
            (Some(v), None) => self.positive_int(v, &format!("{at}/{key}")).map(Seconds::Literal),
            (None, Some(v)) => {
                let here = format!("{at}/{path_key}");
                let p = self.path(v, &here)?;
                Some(Seconds::Path(p))
            }
            (None, None) => None,
        }
    }
}
