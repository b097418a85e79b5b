//! `jsonata-eval suite SUITE_DIR`: every case of the official JSONata test
//! suite through each engine, one child process per engine (a stack
//! overflow or a hang kills only that child; the parent records the case
//! and starts a new child after it). `jsonata-eval bench`: ASL-style
//! expressions, compiled once, evaluated many times per engine.
//!
//! Child mode: `jsonata-eval child ENGINE SUITE_DIR FIRST` prints, per case
//! from index FIRST, `start I` and then `done I pass|fail|error DETAIL`.

mod engines;

use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One test case, as the suite's JSON files describe it.
#[derive(Clone)]
struct Case {
    name: String,
    expr: String,
    input: Option<Value>,
    bindings: Map<String, Value>,
    expect: Expect,
    depth: Option<usize>,
    timelimit: Option<u64>,
    unordered: bool,
}

#[derive(Clone)]
enum Expect {
    Value(Value),
    Undefined,
    Code(String),
    Regex(String),
}

fn load_suite(dir: &Path) -> Vec<Case> {
    let mut files = Vec::new();
    for top in ["groups", "skip"] {
        let Ok(groups) = std::fs::read_dir(dir.join(top)) else {
            continue;
        };
        for g in groups.flatten() {
            for f in std::fs::read_dir(g.path()).into_iter().flatten().flatten() {
                if f.path().extension().is_some_and(|e| e == "json") {
                    files.push(f.path());
                }
            }
        }
    }
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case");
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            eprintln!("not JSON, left out: {}", f.display());
            continue;
        };
        let list = match v {
            Value::Array(a) => a,
            v => vec![v],
        };
        let n = list.len();
        for (i, c) in list.into_iter().enumerate() {
            let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
            let name = if n > 1 { format!("{rel}#{i}") } else { rel };
            if let Some(case) = parse_case(dir, &f, name, &c) {
                cases.push(case);
            }
        }
    }
    cases
}

fn parse_case(dir: &Path, file: &Path, name: String, c: &Value) -> Option<Case> {
    let expr = match (&c["expr"], &c["expr-file"]) {
        (Value::String(e), _) => e.clone(),
        (_, Value::String(f)) => std::fs::read_to_string(file.parent()?.join(f)).ok()?,
        _ => return None,
    };
    let input = if let Some(d) = c.get("data") {
        Some(d.clone())
    } else {
        match &c["dataset"] {
            Value::String(ds) => {
                let text = std::fs::read_to_string(dir.join("datasets").join(format!("{ds}.json"))).ok()?;
                Some(serde_json::from_str(&text).ok()?)
            }
            _ => None,
        }
    };
    let expect = if let Some(r) = c.get("result") {
        Expect::Value(r.clone())
    } else if c["undefinedResult"] == Value::Bool(true) {
        Expect::Undefined
    } else if let Some(code) = c["code"].as_str().or(c["error"]["code"].as_str()) {
        Expect::Code(code.to_string())
    } else if let Some(re) = c["result_re"].as_str() {
        Expect::Regex(re.to_string())
    } else {
        Expect::Undefined
    };
    Some(Case {
        name,
        expr,
        input,
        bindings: c["bindings"].as_object().cloned().unwrap_or_default(),
        expect,
        depth: c["depth"].as_u64().map(|d| d as usize),
        timelimit: c["timelimit"].as_u64(),
        unordered: c["unordered"] == Value::Bool(true),
    })
}

/// Deep equality, numbers compared as f64 (the suite comes from
/// JavaScript), arrays as multisets when the case says `unordered`.
fn same(a: &Value, b: &Value, unordered: bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || ((x - y).abs() <= 1e-12 * x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) if unordered => {
            x.len() == y.len() && {
                let mut used = vec![false; y.len()];
                x.iter().all(|xv| {
                    (0..y.len()).any(|j| {
                        if !used[j] && same(xv, &y[j], unordered) {
                            used[j] = true;
                            true
                        } else {
                            false
                        }
                    })
                })
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q, unordered)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w, unordered)))
        }
        _ => a == b,
    }
}

fn judge(case: &Case, got: &Result<Option<Value>, String>) -> (bool, String) {
    match (&case.expect, got) {
        (Expect::Value(want), Ok(Some(v))) => (same(want, v, case.unordered), format!("got {v}")),
        (Expect::Undefined, Ok(None)) => (true, String::new()),
        (Expect::Code(code), Err(e)) => (e.contains(code.as_str()), format!("error {e}")),
        (Expect::Regex(re), Ok(Some(Value::String(s)))) => {
            (regex::Regex::new(re).is_ok_and(|r| r.is_match(s)), format!("got {s}"))
        }
        (_, Ok(v)) => (
            false,
            format!("got {}", v.as_ref().map_or("undefined".into(), |v| v.to_string())),
        ),
        (_, Err(e)) => (false, format!("error {e}")),
    }
}

fn child(engine: &str, dir: &Path, first: usize) {
    let cases = load_suite(dir);
    let out = std::io::stdout();
    for (i, case) in cases.iter().enumerate().skip(first) {
        writeln!(out.lock(), "start {i}").ok();
        out.lock().flush().ok();
        let got = engines::eval(engine, case);
        let (pass, detail) = judge(case, &got);
        let detail: String = detail.chars().take(200).collect::<String>().replace('\n', " ");
        writeln!(out.lock(), "done {i} {} {detail}", if pass { "pass" } else { "fail" }).ok();
        out.lock().flush().ok();
    }
}

/// Runs one engine over the suite in child processes; returns (passed,
/// failed, crashed, hung) and the names of the cases that did not pass.
fn run_engine(engine: &str, dir: &Path, total: usize) -> (usize, usize, usize, usize, Vec<String>) {
    let exe = std::env::current_exe().expect("own path");
    let cases = load_suite(dir);
    let (mut pass, mut fail, mut crash, mut hang) = (0, 0, 0, 0);
    let mut failed = Vec::new();
    let mut next = 0;
    while next < total {
        let mut child = Command::new(&exe)
            .args(["child", engine, dir.to_str().expect("utf-8"), &next.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut current: Option<usize> = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Ok(line)) => {
                    let mut parts = line.splitn(4, ' ');
                    match (parts.next(), parts.next().and_then(|s| s.parse::<usize>().ok())) {
                        (Some("start"), Some(i)) => current = Some(i),
                        (Some("done"), Some(i)) => {
                            current = None;
                            next = i + 1;
                            if parts.next() == Some("pass") {
                                pass += 1;
                            } else {
                                fail += 1;
                                failed.push(format!("{} ({})", cases[i].name, parts.next().unwrap_or("")));
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The child died (a stack overflow, an abort) in `current`.
                    if let Some(i) = current {
                        crash += 1;
                        failed.push(format!("{} (crashed the process)", cases[i].name));
                        next = i + 1;
                    } else {
                        next = total;
                    }
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    if let Some(i) = current {
                        hang += 1;
                        failed.push(format!("{} (no answer in 20 s)", cases[i].name));
                        next = i + 1;
                    }
                    break;
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    (pass, fail, crash, hang, failed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child") => child(&args[2], Path::new(&args[3]), args[4].parse().expect("index")),
        Some("suite") => {
            let dir = PathBuf::from(&args[2]);
            let total = load_suite(&dir).len();
            let only = args.get(3);
            println!("| engine | cases | passed | failed | crashed the process | no answer in 20 s | pass rate |");
            println!("|---|---|---|---|---|---|---|");
            for engine in engines::NAMES {
                if only.is_some_and(|o| o != engine) {
                    continue;
                }
                let t = Instant::now();
                let (p, f, c, h, failed) = run_engine(engine, &dir, total);
                println!(
                    "| {engine} | {total} | {p} | {f} | {c} | {h} | {:.1}% |",
                    100.0 * p as f64 / total as f64
                );
                let list = std::env::temp_dir().join(format!("{engine}-not-passed.txt"));
                let _ = std::fs::write(&list, failed.join("\n"));
                eprintln!(
                    "{engine}: {:.1} s; cases not passed in {}",
                    t.elapsed().as_secs_f64(),
                    list.display()
                );
            }
        }
        Some("bench") => engines::bench(),
        _ => eprintln!("usage: jsonata-eval suite SUITE_DIR [ENGINE] | bench"),
    }
}
