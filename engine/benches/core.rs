//! Core benchmarks, measured against aws-local-stepfunctions in the same run.
//!
//! `cargo bench -p aslan --bench core` prints three Markdown tables; the
//! figures in BENCHMARKS.md come from them. Set `ASLAN_BENCH_NO_PEER=1` to
//! skip the peer. Without `--bench` (as `cargo test --benches` runs it) the
//! workloads are small, the peer and the process rows are skipped, and it
//! only checks that everything runs.
//!
//! Workloads:
//! - `loop`: a Choice + Pass counting loop of 100,003 state transitions;
//! - `inline Map`: an inline Map over 10,000 items, each through a Pass
//!   state with `Parameters` and `States.MathAdd`;
//! - `inline Map, Context ItemSelector`: an inline Map over 10,000 small
//!   objects whose `ItemSelector` reads `$$.Map.Item.Value` and
//!   `$$.Map.Item.Index`, each item through a Pass state.
//!
//! In-process table: Aslan's pure core (`Execution::start` until the run
//! ends, then freeing the execution and its history, all timed), best of
//! 10 runs, with history recording on (every event with its serialized
//! input or output, as `aslan run --history` and the durable executor
//! record it) and off; the peer's `StateMachine.run(input).result` in one
//! Node.js process (which always records its state events), best of 5
//! runs. Both outputs are compared.
//!
//! Custom task table: Task states answered by a handler in the same
//! process, `{"n": n + 1}` for `{"n": n}`: Aslan's
//! `Engine::builder().task(..).run_once(..)` (what `aslan run` does, history
//! on, on a current-thread tokio runtime), best of 5, against the peer's
//! `taskResourceLocalHandlers` (an async JavaScript function), best of 5.
//! Workloads: a loop of 10,000 sequential Task round trips (Task → Choice),
//! and an inline Map of 10,000 Task iterations.
//!
//! This bench allocates with mimalloc, as the `aslan` binary does (cargo
//! feature `mimalloc`, on by default); the library itself sets no
//! allocator, so an embedder's program uses its own.
//!
//! Process table: each run a fresh process, the same definition and input
//! file, stdout and stderr to /dev/null, best of 5 (the peer: 3): the
//! release `aslan run DEF --input-file F [--history]` (the binary cargo
//! builds for this bench, `target/release/aslan`) against the peer's CLI,
//! `local-sfn -f DEF < F` (`tests/peer/node_modules/.bin/local-sfn`).

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aslan::asl::{Command as CoreCommand, Event, Execution, ExecutionInfo, Machine, Options, Status};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// [`loop_def`] in JSONata: a Choice `Condition` and a Pass `Output`.
fn loop_jsonata_def(iterations: u64) -> Value {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Output": {"count": 0}, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Condition": format!("{{% $states.input.count < {iterations} %}}"), "Next": "Increment"}], "Default": "Done"},
            "Increment": {"Type": "Pass", "Output": {"count": "{% $states.input.count + 1 %}"}, "Next": "Check"},
            "Done": {"Type": "Succeed"}
        }
    })
}

/// [`map_def`] in JSONata: `Items` and a Pass `Output` per item.
fn map_jsonata_def() -> Value {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "ItemProcessor": {"StartAt": "Double", "States": {
                    "Double": {"Type": "Pass", "Output": {"id": "{% $states.input.id %}", "twice": "{% $states.input.id + $states.input.id %}"}, "End": true}
                }},
                "End": true
            }
        }
    })
}

/// [`map_context_def`] in JSONata: the `ItemSelector` reads `$states.context.Map.Item`.
fn map_context_jsonata_def() -> Value {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}", "i": "{% $states.context.Map.Item.Index %}"},
                "ItemProcessor": {"StartAt": "Item", "States": {
                    "Item": {"Type": "Pass", "End": true}
                }},
                "End": true
            }
        }
    })
}

/// The most common Map shape: the `ItemSelector` reads the Context object.
fn map_context_def() -> Value {
    json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                "ItemProcessor": {"StartAt": "Item", "States": {
                    "Item": {"Type": "Pass", "End": true}
                }},
                "End": true
            }
        }
    })
}

struct Case {
    name: &'static str,
    def: Value,
    input: Value,
}

struct Measured {
    best_ms: f64,
    transitions: u64,
    events: usize,
    output: Value,
}

/// Best of `runs` runs of the core, from `Execution::start` until the
/// execution and its history are freed.
fn ours(def: &Value, input: &Value, history: bool, runs: usize) -> Measured {
    let machine = Arc::new(Machine::compile(def).expect("valid benchmark definition"));
    let mut best = f64::MAX;
    let (mut transitions, mut events, mut output) = (0, 0, Value::Null);
    for i in 0..runs {
        let info = ExecutionInfo::local("Bench", &format!("run-{i}"), 0);
        let input = input.clone();
        let t = Instant::now();
        let (mut ex, mut cmds) = Execution::start(
            machine.clone(),
            info,
            input,
            Options {
                history,
                seed: None,
                history_sink: None,
                variables: None,
                start_list: None,
            },
            0,
        );
        // A run longer than one step budget goes on through timers set
        // for now (`STEP_BUDGET`), as an executor would fire them.
        while let Some(token) = cmds.iter().find_map(|c| match c {
            CoreCommand::StartTimer { token, fire_at_ms: 0 } => Some(*token),
            _ => None,
        }) {
            cmds = ex.handle(Event::TimerFired { token }, 0);
        }
        let (n, e) = (ex.transitions(), ex.history().len());
        // The output is moved out, not copied; the rest is freed here.
        let status = ex.into_status();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(cmds.is_empty());
        let Status::Succeeded(out) = status else {
            panic!("benchmark run did not succeed: {status:?}")
        };
        (transitions, events, output) = (n, e, out);
        best = best.min(ms);
    }
    Measured {
        best_ms: best,
        transitions,
        events,
        output,
    }
}

fn peer_dir() -> Option<PathBuf> {
    if std::env::var_os("ASLAN_BENCH_NO_PEER").is_some() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peer");
    if !dir.join("node_modules/aws-local-stepfunctions").exists() {
        eprintln!("peer not installed (npm ci in tests/peer); skipping it");
        return None;
    }
    Some(dir)
}

/// Best of `runs` runs of the peer in one Node.js process, and its output.
/// With `inc_tasks`, every Task state is answered by a local handler
/// returning `{"n": n + 1}`.
fn peer(dir: &Path, def: &Path, input: &Path, runs: usize, inc_tasks: bool) -> Option<(f64, Value)> {
    let out = Command::new("node")
        .arg("run-peer.mjs")
        .arg("--bench")
        .arg(def)
        .arg(input)
        .arg(runs.to_string())
        .args(inc_tasks.then_some("--inc-tasks"))
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let best = v["ms"].as_array()?.iter().filter_map(Value::as_f64).reduce(f64::min)?;
    Some((best, v["output"].clone()))
}

/// Best wall time of `runs` fresh processes, stdout and stderr discarded.
fn process(runs: usize, mut cmd: impl FnMut() -> Command) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let mut c = cmd();
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let t = Instant::now();
        let status = c.status().expect("spawn");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(status.success(), "{c:?} failed: {status}");
        best = best.min(ms);
    }
    best
}

fn ratio(peer: Option<f64>, ours: f64) -> String {
    peer.map_or("n/a".into(), |p| format!("{:.0}x", p / ours))
}

/// The resource the custom task workloads call.
const INC: &str = "arn:aslan:states:::task:inc";

/// `n` sequential round trips: Task (`n + 1`) → Choice → Task ...
fn task_loop_def(n: u64) -> Value {
    json!({
        "StartAt": "Inc",
        "States": {
            "Inc": {"Type": "Task", "Resource": INC, "Parameters": {"n.$": "$.n"}, "Next": "More?"},
            "More?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": n, "Next": "Inc"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
}

/// A Map whose every iteration is one round trip.
fn task_map_def() -> Value {
    json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Inc", "States": {
                    "Inc": {"Type": "Task", "Resource": INC, "Parameters": {"n.$": "$.n"}, "End": true}
                }},
                "End": true
            }
        }
    })
}

/// Best of `runs` runs of `EngineBuilder::run_once` with an in-process
/// handler for [`INC`], history on, and the output.
fn ours_with_tasks(def: &Value, input: &Value, runs: usize) -> (f64, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let text = def.to_string();
    let mut best = f64::MAX;
    let mut output = Value::Null;
    for i in 0..runs {
        let input = input.clone();
        let t = Instant::now();
        let ended = rt
            .block_on(
                aslan::Engine::builder()
                    .task(INC, |task| async move {
                        let n = task.invocation.parameters["n"].as_i64().unwrap_or(0);
                        Ok(json!({ "n": n + 1 }))
                    })
                    .run_once(
                        &text,
                        input,
                        aslan::RunOnce {
                            execution_name: Some(format!("run-{i}")),
                            history: true,
                            ..Default::default()
                        },
                    ),
            )
            .expect("valid benchmark definition");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let Status::Succeeded(out) = ended.status else {
            panic!("benchmark run did not succeed: {:?}", ended.status)
        };
        output = out;
        best = best.min(ms);
    }
    (best, output)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |p| format!("{p:.1}"))
}

fn main() {
    // `cargo test --benches` runs bench binaries with no arguments but
    // `--bench`; stay quick there.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (iters, items, runs, peer_runs) = if quick {
        (500, 100, 1, 0)
    } else {
        (50_000, 10_000, 10, 5)
    };
    let cases = [
        Case {
            name: "loop (Choice+Pass)",
            def: loop_def(iters),
            input: json!({}),
        },
        Case {
            name: "inline Map",
            def: map_def(),
            input: json!({"items": (0..items).map(|i| json!({"id": i})).collect::<Vec<_>>()}),
        },
        Case {
            name: "inline Map, Context ItemSelector",
            def: map_context_def(),
            input: json!({"items": (0..items).map(|i| json!({"n": i})).collect::<Vec<_>>()}),
        },
    ];
    // `ASLAN_BENCH_ONLY=Context` keeps the cases whose name contains it
    // (to profile one workload).
    let only = std::env::var("ASLAN_BENCH_ONLY").unwrap_or_default();
    let cases: Vec<Case> = cases.into_iter().filter(|c| c.name.contains(only.as_str())).collect();
    let peer_dir = if quick { None } else { peer_dir() };
    let tmp = std::env::temp_dir().join(format!("aslan-bench-core-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let files: Vec<(PathBuf, PathBuf)> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (d, f) = (tmp.join(format!("def-{i}.json")), tmp.join(format!("input-{i}.json")));
            std::fs::write(&d, c.def.to_string()).expect("write definition");
            std::fs::write(&f, c.input.to_string()).expect("write input");
            (d, f)
        })
        .collect();

    println!("In process: Aslan's core (best of {runs}) vs aws-local-stepfunctions (best of {peer_runs}, same run)");
    println!();
    println!("| benchmark | transitions | history events | Aslan, history on (ms) | aws-local-stepfunctions (ms) | speed-up, history on | Aslan, history off (ms) | speed-up, history off | Aslan transitions/s, history on |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut jsonpath_rows = Vec::new();
    for (c, (def_file, input_file)) in cases.iter().zip(&files) {
        let hist = ours(&c.def, &c.input, true, runs);
        let fast = ours(&c.def, &c.input, false, runs);
        assert_eq!(hist.output, fast.output);
        let p = peer_dir
            .as_deref()
            .and_then(|d| peer(d, def_file, input_file, peer_runs, false));
        if let Some((_, out)) = &p {
            if *out != hist.output {
                eprintln!("{}: the peer's output differs from Aslan's", c.name);
            }
        }
        let p = p.map(|p| p.0);
        jsonpath_rows.push((c.name, hist.best_ms, p, hist.output.clone()));
        println!(
            "| {} | {} | {} | {:.2} | {} | **{}** | {:.2} | {} | {:.0} |",
            c.name,
            hist.transitions,
            hist.events,
            hist.best_ms,
            ms(p),
            ratio(p, hist.best_ms),
            fast.best_ms,
            ratio(p, fast.best_ms),
            hist.transitions as f64 / (hist.best_ms / 1000.0),
        );
    }

    {
        // The same shapes written in JSONata (the peer has no JSONata: its
        // column is its JSONPath run of the same shape, above).
        let jsonata = [
            ("loop (Choice+Pass)", loop_jsonata_def(iters)),
            ("inline Map", map_jsonata_def()),
            ("inline Map, Context ItemSelector", map_context_jsonata_def()),
        ];
        println!();
        println!("JSONata: the same workloads written in JSONata, Aslan's core, history on (best of {runs}), against the JSONPath rows above; aws-local-stepfunctions has no JSONata, so its column is its JSONPath run of the same shape");
        println!();
        println!("| benchmark | Aslan JSONPath (ms) | Aslan JSONata (ms) | JSONata / JSONPath | aws-local-stepfunctions, JSONPath (ms) | speed-up, JSONata against the peer's JSONPath |");
        println!("|---|---|---|---|---|---|");
        for (name, best, p, output) in &jsonpath_rows {
            let Some((_, def)) = jsonata.iter().find(|(n, _)| n == name) else {
                continue;
            };
            let input = &cases.iter().find(|c| c.name == *name).expect("case").input;
            let j = ours(def, input, true, runs);
            assert_eq!(&j.output, output, "{name}: JSONata and JSONPath outputs differ");
            println!(
                "| {name} | {best:.2} | {:.2} | {:.2} | {} | **{}** |",
                j.best_ms,
                j.best_ms / best,
                ms(*p),
                ratio(*p, j.best_ms),
            );
        }
    }

    {
        let n = items as u64;
        let task_cases = [
            Case {
                name: "custom task loop (sequential round trips)",
                def: task_loop_def(n),
                input: json!({"n": 0}),
            },
            Case {
                name: "inline Map of custom tasks",
                def: task_map_def(),
                input: json!({"items": (0..n).map(|i| json!({"n": i})).collect::<Vec<_>>()}),
            },
        ];
        let task_cases: Vec<Case> = task_cases
            .into_iter()
            .filter(|c| c.name.contains(only.as_str()))
            .collect();
        let runs = if quick { 1 } else { 5 };
        println!();
        println!("Custom task round trips in process: `Engine::builder().task(..).run_once(..)`, history on (best of {runs}) vs the peer's `taskResourceLocalHandlers` (best of {peer_runs}, same run)");
        println!();
        println!(
            "| benchmark | round trips | Aslan (ms) | aws-local-stepfunctions (ms) | speed-up | Aslan round trips/s |"
        );
        println!("|---|---|---|---|---|---|");
        for (i, c) in task_cases.iter().enumerate() {
            let (d, f) = (
                tmp.join(format!("task-def-{i}.json")),
                tmp.join(format!("task-input-{i}.json")),
            );
            std::fs::write(&d, c.def.to_string()).expect("write definition");
            std::fs::write(&f, c.input.to_string()).expect("write input");
            let (best, output) = ours_with_tasks(&c.def, &c.input, runs);
            let p = peer_dir.as_deref().and_then(|dir| peer(dir, &d, &f, peer_runs, true));
            if let Some((_, out)) = &p {
                assert_eq!(*out, output, "{}: the peer's output differs from Aslan's", c.name);
            }
            let p = p.map(|p| p.0);
            println!(
                "| {} | {n} | {best:.2} | {} | **{}** | {:.0} |",
                c.name,
                ms(p),
                ratio(p, best),
                n as f64 / (best / 1000.0)
            );
        }
    }

    if !quick && only.is_empty() {
        let aslan = env!("CARGO_BIN_EXE_aslan");
        let (runs, peer_runs) = (5, 3);
        println!();
        println!("Whole process: `{aslan} run DEF --input-file F [--history]` (best of {runs}) vs the peer's CLI `local-sfn -f DEF < F` (best of {peer_runs}); each run a fresh process, stdout and stderr to /dev/null");
        println!();
        println!("| benchmark | `aslan run --history` (ms) | `local-sfn` (ms) | speed-up, history on | `aslan run` (ms) | speed-up, history off |");
        println!("|---|---|---|---|---|---|");
        for (c, (def_file, input_file)) in cases.iter().zip(&files) {
            let run = |history: bool| {
                process(runs, || {
                    let mut cmd = Command::new(aslan);
                    cmd.arg("run").arg(def_file).arg("--input-file").arg(input_file);
                    if history {
                        cmd.arg("--history");
                    }
                    cmd
                })
            };
            let (hist, fast) = (run(true), run(false));
            let p = peer_dir.as_deref().map(|dir| {
                process(peer_runs, || {
                    let mut cmd = Command::new(dir.join("node_modules/.bin/local-sfn"));
                    cmd.arg("-f").arg(def_file);
                    cmd.stdin(std::fs::File::open(input_file).expect("input file"));
                    cmd
                })
            });
            println!(
                "| {} | {hist:.1} | {} | **{}** | {fast:.1} | {} |",
                c.name,
                ms(p),
                ratio(p, hist),
                ratio(p, fast)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
