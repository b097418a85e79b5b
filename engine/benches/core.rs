//! Core benchmarks, measured against aws-local-stepfunctions in the same run.
//!
//! `cargo bench -p aslan --bench core` prints a Markdown table; the figures in
//! BENCHMARKS.md come from it. Set `ASLAN_BENCH_NO_PEER=1` to skip the peer.
//!
//! - `loop`: a Choice + Pass counting loop of 100,000 state transitions.
//! - `map`: an inline Map over 10,000 items, each through a Pass state.

use aslan::asl::{Execution, ExecutionInfo, Machine, Options, Status};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

fn loop_def(iterations: u64) -> Value {
    json!({
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": {"count": 0}, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.count", "NumericLessThan": iterations, "Next": "Increment"}], "Default": "Done"},
            "Increment": {"Type": "Pass", "Parameters": {"count.$": "States.MathAdd($.count, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"}
        }
    })
}

fn map_def() -> Value {
    json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Double", "States": {
                    "Double": {"Type": "Pass", "Parameters": {"id.$": "$.id", "twice.$": "States.MathAdd($.id, $.id)"}, "End": true}
                }},
                "End": true
            }
        }
    })
}

struct Measured {
    best_ms: f64,
    transitions: u64,
}

fn ours(def: &Value, input: &Value, history: bool, runs: usize) -> Measured {
    let machine = Arc::new(Machine::compile(def).expect("valid benchmark definition"));
    let mut best = f64::MAX;
    let mut transitions = 0;
    for i in 0..runs {
        let info = ExecutionInfo::local("Bench", &format!("run-{i}"), 0);
        let t = Instant::now();
        let (ex, cmds) = Execution::start(machine.clone(), info, input.clone(), Options { history, seed: None }, 0);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(cmds.is_empty());
        assert!(matches!(ex.status(), Status::Succeeded(_)), "{:?}", ex.status());
        transitions = ex.transitions();
        best = best.min(ms);
    }
    Measured {
        best_ms: best,
        transitions,
    }
}

fn peer(def: &Value, input: &Value, runs: usize) -> Option<f64> {
    if std::env::var_os("ASLAN_BENCH_NO_PEER").is_some() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peer");
    if !dir.join("node_modules/aws-local-stepfunctions").exists() {
        eprintln!("peer not installed (npm ci in tests/peer); skipping it");
        return None;
    }
    let file = std::env::temp_dir().join(format!("aslan-bench-{}.json", std::process::id()));
    std::fs::write(&file, def.to_string()).ok()?;
    let out = Command::new("node")
        .arg("run-peer.mjs")
        .arg("--bench")
        .arg(&file)
        .arg(input.to_string())
        .arg(runs.to_string())
        .current_dir(&dir)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        eprintln!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["ms"].as_array()?.iter().filter_map(Value::as_f64).reduce(f64::min)
}

fn main() {
    // `cargo test --benches` runs bench binaries with no arguments but
    // `--bench`; stay quick there.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (iters, items, runs, peer_runs) = if quick {
        (500, 100, 1, 0)
    } else {
        (50_000, 10_000, 10, 3)
    };
    let loop_input = json!({});
    let map_input = json!({"items": (0..items).map(|i| json!({"id": i})).collect::<Vec<_>>()});
    let cases = [
        ("loop (Choice+Pass)", loop_def(iters), loop_input),
        ("inline Map", map_def(), map_input),
    ];
    println!("| benchmark | transitions | Aslan (ms) | Aslan transitions/s | Aslan with history (ms) | aws-local-stepfunctions (ms) | speed-up |");
    println!("|---|---|---|---|---|---|---|");
    for (name, def, input) in cases {
        let fast = ours(&def, &input, false, runs);
        let hist = ours(&def, &input, true, runs.min(3));
        let p = if peer_runs > 0 {
            peer(&def, &input, peer_runs)
        } else {
            None
        };
        let tps = fast.transitions as f64 / (fast.best_ms / 1000.0);
        println!(
            "| {name} | {} | {:.2} | {:.0} | {:.2} | {} | {} |",
            fast.transitions,
            fast.best_ms,
            tps,
            hist.best_ms,
            p.map_or("n/a".into(), |p| format!("{p:.1}")),
            p.map_or("n/a".into(), |p| format!("{:.0}x", p / fast.best_ms)),
        );
    }
}
