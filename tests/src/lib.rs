//! Shared helpers for Aslan's end-to-end tests: the differential corpus and
//! the aws-local-stepfunctions peer.

use aslan::asl::{ExecutionInfo, Machine, Options, StateError, Status};
use aslan::exec::{self, SimulatedClock};
use aslan::tasks::mock::MockTasks;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The start time every corpus execution sees: 2024-01-01T00:00:00Z.
pub const START_MS: i64 = 1_704_067_200_000;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// One corpus case.
#[derive(Debug, Clone)]
pub struct Case {
    /// `group/name`.
    pub name: String,
    /// The definition.
    pub definition: Value,
    /// The execution input.
    pub input: Value,
    /// Mocked task responses by state name.
    pub tasks: Value,
    /// AWS's documented result where the peer departs from it.
    pub expect: Option<Value>,
    /// Why the peer departs (listed in tests/corpus/DEVIATIONS.md).
    pub peer_deviates: Option<String>,
}

/// How a run ended, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Output.
    Succeeded(Value),
    /// Error name (causes are worded differently by each engine).
    Failed(String),
    /// The definition was rejected.
    Invalid(String),
}

impl Outcome {
    /// Parses `{"status": ..., "output"|"error": ...}`.
    pub fn from_json(v: &Value) -> Outcome {
        match v["status"].as_str() {
            Some("SUCCEEDED") => Outcome::Succeeded(v["output"].clone()),
            Some("FAILED") => Outcome::Failed(v["error"].as_str().unwrap_or_default().to_string()),
            _ => Outcome::Invalid(v["cause"].as_str().unwrap_or_default().to_string()),
        }
    }

    /// Equality with numbers compared by value.
    pub fn same(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Succeeded(a), Outcome::Succeeded(b)) => aslan::asl::intrinsics::json_eq(a, b),
            (Outcome::Failed(a), Outcome::Failed(b)) => a == b,
            (Outcome::Invalid(_), Outcome::Invalid(_)) => true,
            _ => false,
        }
    }
}

/// Loads every `tests/corpus/*.json` file.
pub fn corpus() -> Vec<Case> {
    let dir = repo_root().join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable corpus file");
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for c in cases {
            out.push(Case {
                name: c["name"].as_str().expect("case name").to_string(),
                definition: c["definition"].clone(),
                input: c.get("input").cloned().unwrap_or(json!({})),
                tasks: c.get("tasks").cloned().unwrap_or(json!({})),
                expect: c.get("expect").cloned(),
                peer_deviates: c.get("peer_deviates").and_then(Value::as_str).map(String::from),
            });
        }
    }
    out
}

fn info() -> ExecutionInfo {
    ExecutionInfo::local("Diff", "diff", START_MS)
}

/// The Context object the peer is given, matching what Aslan builds.
pub fn peer_context(input: &Value) -> Value {
    let i = info();
    json!({
        "Execution": {"Id": i.execution_arn, "Input": input, "Name": i.name, "RoleArn": i.role_arn, "StartTime": "2024-01-01T00:00:00.000Z"},
        "StateMachine": {"Id": i.state_machine_arn, "Name": i.state_machine_name},
    })
}

/// Runs a case through Aslan with a simulated clock and mocked tasks.
pub fn run_ours(case: &Case) -> Outcome {
    let machine = match Machine::compile(&case.definition) {
        Ok(m) => Arc::new(m),
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    let mut seqs = HashMap::new();
    if let Some(o) = case.tasks.as_object() {
        for (state, rs) in o {
            let list = rs
                .as_array()
                .expect("task responses are an array")
                .iter()
                .map(|r| match r.get("Throw") {
                    Some(t) => Err(StateError::new(
                        t["Error"].as_str().unwrap_or_default(),
                        t["Cause"].as_str().unwrap_or_default(),
                    )),
                    None => Ok(r["Return"].clone()),
                })
                .collect();
            seqs.insert(state.clone(), list);
        }
    }
    let tasks = Arc::new(aslan::tasks::Registry::new().with_mock_tasks(MockTasks::from_sequences(seqs)));
    let clock = SimulatedClock::new(START_MS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let r = rt.block_on(exec::run(
        machine,
        info(),
        case.input.clone(),
        Options::default(),
        &clock,
        tasks,
    ));
    match r.status {
        Status::Succeeded(v) => Outcome::Succeeded(v),
        Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => Outcome::Failed(e.error),
        Status::Running => unreachable!(),
    }
}

/// Set to `1` to run the differential test without the peer: only Aslan's
/// documented expectations are then checked. Without it, a peer that
/// cannot run fails the test.
pub const SKIP_PEER_VAR: &str = "ASLAN_SKIP_PEER";

/// The peer's folder, or why the peer cannot run: `node` must be on the
/// PATH and `npm ci` must have been run in `tests/peer`.
pub fn peer_dir() -> Result<PathBuf, String> {
    let d = repo_root().join("tests/peer");
    if !d.join("node_modules/aws-local-stepfunctions").is_dir() {
        return Err(format!(
            "{} is missing",
            d.join("node_modules/aws-local-stepfunctions").display()
        ));
    }
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(d),
        Ok(o) => Err(format!("`node --version` failed with {}", o.status)),
        Err(e) => Err(format!("cannot run `node`: {e}")),
    }
}

/// Whether [`SKIP_PEER_VAR`] asks to skip the peer.
pub fn skip_peer() -> bool {
    std::env::var(SKIP_PEER_VAR).is_ok_and(|v| v == "1")
}

/// Runs cases through aws-local-stepfunctions; results by case name.
pub fn run_peer(cases: &[Case]) -> HashMap<String, Outcome> {
    let dir = peer_dir().unwrap_or_else(|why| panic!("the peer cannot run: {why}"));
    let mut child = Command::new("node")
        .arg("run-peer.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for c in cases {
            let line = json!({"name": c.name, "definition": c.definition, "input": c.input, "tasks": c.tasks, "context": peer_context(&c.input)});
            writeln!(stdin, "{line}").expect("write to peer");
        }
    }
    let out = child.wait_with_output().expect("peer finished");
    assert!(out.status.success(), "the peer driver failed");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("peer JSON line");
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                Outcome::from_json(&v),
            )
        })
        .collect()
}
