//! Durable executor benchmarks (sled on local disk, `fdatasync` on every
//! group commit unless stated). `cargo bench -p aslan --bench durable`
//! prints a Markdown table; BENCHMARKS.md records it. Without `--bench` (as
//! `cargo test --benches` runs it) the workloads are small and the strace
//! check is skipped.
//!
//! - transitions/s with many executions whose steps are separate commits
//!   (each Task result is its own event), fsync on and off;
//! - StartExecution → first state entered: latency until the start (which
//!   includes entering the first state) is durable, sequential calls;
//! - in-process custom task round trips through [`aslan::Engine`]: a
//!   one-Task machine whose Resource a Rust closure answers; sequential
//!   (start → handler → result committed → the wait returns) and many
//!   executions at once, fsync on and off;
//! - the fsync syscall: a small run under `strace -f -e
//!   trace=fsync,fdatasync,sync_file_range` (when strace is installed),
//!   its `fdatasync` calls counted against the executor's group commits;
//! - a durable inline Map of Task iterations;
//! - with 100,000 executions waiting in a Wait state (started in this
//!   process, which then closes the store):
//!   - cold recovery: a fresh process (this binary, `--child recover DIR`)
//!     opens the store and starts the executor; it reports the time to
//!     open the store, the executor's `RecoveryReport`, and its own wall
//!     time from `main` to recovered, and the parent times the whole
//!     process (spawn to exit);
//!   - memory per waiting execution, without sled's cache: a fresh process
//!     (`--child memory DIR`) opens the store and first reads everything
//!     recovery reads (snapshots, execution records, timers, tasks), so
//!     sled's page cache holds it; then it starts the executor and reports
//!     the growth of live heap bytes (a counting global allocator: bytes
//!     requested and not freed) and of RSS, divided by the executions
//!     recovered. That growth is the executor's own state for them: the
//!     restored executions, their records, the ARN index and re-armed
//!     timers.

use aslan::exec::durable::{Executor, ExecutorConfig, RecoveryReport, StartRequest};
use aslan::exec::SystemClock;
use aslan::store::{StateMachineRecord, Store};
use aslan::tasks::{FnIntegration, Registry};
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The system allocator, counting live heap bytes and blocks once
/// [`COUNTING`] is set (only in the `--child memory` process).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_add(l.size() as isize, Relaxed);
            LIVE_BLOCKS.fetch_add(1, Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() && COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_add(l.size() as isize, Relaxed);
            LIVE_BLOCKS.fetch_add(1, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        if COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_sub(l.size() as isize, Relaxed);
            LIVE_BLOCKS.fetch_sub(1, Relaxed);
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() && COUNTING.load(Relaxed) {
            LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Lambda tasks answer with their parameters at once.
fn echo() -> Arc<Registry> {
    let mut r = Registry::new();
    r.register(Arc::new(FnIntegration::new(
        "arn:aws:states:::lambda:invoke",
        |t| async move { Ok(t.invocation.parameters) },
    )));
    Arc::new(r)
}

fn machine(store: &Store, name: &str, def: Value) -> StateMachineRecord {
    let rec = StateMachineRecord {
        name: name.into(),
        arn: format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}"),
        definition: def.to_string(),
        role_arn: "arn:aws:iam::123456789012:role/R".into(),
        sm_type: "STANDARD".into(),
        created_ms: 0,
        updated_ms: 0,
        revision: 1,
    };
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(store.put_machine(&rec))).expect("store");
    rec
}

fn start_executor(store: &Store, fsync: bool) -> (Executor, RecoveryReport) {
    Executor::start(
        store.clone(),
        ExecutorConfig {
            clock: Arc::new(SystemClock),
            tasks: echo(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            fsync,
        },
    )
    .expect("executor")
}

fn open(dir: &Path, fsync: bool) -> (Store, Executor, RecoveryReport) {
    let store = Store::open(dir).expect("open store");
    let (ex, report) = start_executor(&store, fsync);
    (store, ex, report)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

async fn wait_all(store: &Store, arns: &[String]) {
    for a in arns {
        loop {
            let rec = store.execution_by_arn(a).expect("read").expect("exists");
            if rec.status != "RUNNING" {
                assert_eq!(rec.status, "SUCCEEDED", "{rec:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Executions of 5 sequential Tasks and then 5 Pass states.
fn tasks_then_passes() -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..5 {
        let next = if i < 4 {
            json!({"Next": format!("T{}", i + 1)})
        } else {
            json!({"Next": "P0"})
        };
        let mut s = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"i": i, "n.$": "$.n"}, "ResultPath": format!("$.r{i}")});
        s.as_object_mut().unwrap().extend(next.as_object().unwrap().clone());
        states.insert(format!("T{i}"), s);
    }
    for i in 0..5 {
        let s = if i < 4 {
            json!({"Type": "Pass", "Next": format!("P{}", i + 1)})
        } else {
            json!({"Type": "Pass", "End": true})
        };
        states.insert(format!("P{i}"), s);
    }
    json!({"StartAt": "T0", "States": states})
}

/// Starts `n` executions of `sm` at once and waits until all succeeded.
async fn run_all(store: &Store, ex: &Executor, sm: &StateMachineRecord, n: usize) {
    let mut handles = Vec::new();
    for i in 0..n {
        let ex = ex.clone();
        let sm = sm.clone();
        handles.push(tokio::spawn(async move {
            ex.start_execution(StartRequest {
                machine: sm,
                name: format!("e{i}"),
                input: json!({"n": i}).to_string(),
                test_case: None,
            })
            .await
            .expect("start")
            .arn
        }));
    }
    let mut arns = Vec::new();
    for h in handles {
        arns.push(h.await.expect("join"));
    }
    wait_all(store, &arns).await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `--child KIND DIR [N]`: the measurements that need a fresh process.
/// Prints one JSON line.
fn child(kind: &str, dir: &Path, n: usize) {
    let t0 = Instant::now();
    let rt = runtime();
    match kind {
        // Cold recovery: open the store, start the executor.
        "recover" => rt.block_on(async {
            let t = Instant::now();
            let store = Store::open(dir).expect("open store");
            let open_ms = t.elapsed().as_secs_f64() * 1000.0;
            let (ex, report) = start_executor(&store, true);
            let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
            println!(
                "{}",
                json!({"open_ms": open_ms, "recovery_ms": report.elapsed_ms as u64, "executions": report.executions,
                       "timers": report.timers, "total_ms": total_ms, "rss": rss_bytes()})
            );
            ex.shutdown().await;
        }),
        // Memory: warm sled's cache with what recovery reads, then measure
        // what starting the executor adds.
        "memory" => rt.block_on(async {
            COUNTING.store(true, Relaxed);
            let store = Store::open(dir).expect("open store");
            {
                let snaps: Vec<(u64, sled::IVec)> = store.snapshots().collect::<Result<_, _>>().expect("snapshots");
                for (id, _) in &snaps {
                    let _ = store.execution(*id).expect("record");
                }
                let _ = store.timers().expect("timers");
                let _ = store.tasks().expect("tasks");
                let _ = store.cancels().expect("cancels");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (bytes0, blocks0, rss0) = (LIVE_BYTES.load(Relaxed), LIVE_BLOCKS.load(Relaxed), rss_bytes());
            let (ex, report) = start_executor(&store, true);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (bytes1, blocks1, rss1) = (LIVE_BYTES.load(Relaxed), LIVE_BLOCKS.load(Relaxed), rss_bytes());
            println!(
                "{}",
                json!({"executions": report.executions, "heap_bytes": bytes1 - bytes0, "heap_blocks": blocks1 - blocks0,
                       "rss_growth": rss1 as i64 - rss0 as i64, "rss_before": rss0, "rss_after": rss1})
            );
            ex.shutdown().await;
        }),
        // The strace check: a small fsync-on run; how many group commits.
        "fsync" => rt.block_on(async {
            let (store, ex, _) = open(dir, true);
            let sm = machine(&store, "fsync", tasks_then_passes());
            let c0 = ex.stats().commits.load(Relaxed);
            run_all(&store, &ex, &sm, n).await;
            ex.shutdown().await;
            let commits = ex.stats().commits.load(Relaxed) - c0;
            println!(
                "{}",
                json!({"commits": commits, "steps": ex.stats().steps.load(Relaxed)})
            );
        }),
        _ => panic!("unknown child {kind}"),
    }
}

/// Runs this binary as a fresh process (optionally under `wrap`). Returns
/// its JSON line, the time from spawning it until that line arrived, and
/// until it exited.
fn spawn_child(wrap: &[&str], kind: &str, dir: &Path, n: usize) -> (Value, f64, f64) {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = match wrap.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.arg("--child").arg(kind).arg(dir).arg(n.to_string());
    cmd.stdout(std::process::Stdio::piped());
    let t = Instant::now();
    let mut proc = cmd.spawn().expect("spawn child");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(proc.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut out, &mut line).expect("child output");
    let to_line = t.elapsed().as_secs_f64() * 1000.0;
    let status = proc.wait().expect("child");
    let to_exit = t.elapsed().as_secs_f64() * 1000.0;
    assert!(status.success(), "child {kind} failed: {status}");
    let v = serde_json::from_str(&line).unwrap_or_else(|e| panic!("child {kind}: {e}: {line:?}"));
    (v, to_line, to_exit)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let n = args.get(i + 3).and_then(|s| s.parse().ok()).unwrap_or(0);
        return child(&args[i + 1], Path::new(&args[i + 2]), n);
    }
    let quick = !args.iter().any(|a| a == "--bench");
    let (n_exec, n_wait) = if quick { (50, 500) } else { (5_000, 100_000) };
    let rt = runtime();
    let base = std::env::temp_dir().join(format!("aslan-bench-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    println!("| benchmark | figure | notes |");
    println!("|---|---|---|");
    rt.block_on(async {
        for fsync in [true, false] {
            // 1. Throughput: executions of 5 sequential Tasks and a Pass chain.
            let dir = base.join(format!("tput-{fsync}"));
            let (store, ex, _) = open(&dir, fsync);
            let sm = machine(&store, "tput", tasks_then_passes());
            let c0 = ex.stats().commits.load(Relaxed);
            let t = Instant::now();
            run_all(&store, &ex, &sm, n_exec).await;
            let secs = t.elapsed().as_secs_f64();
            let commits = ex.stats().commits.load(Relaxed) - c0;
            let transitions = n_exec as f64 * 10.0;
            let steps = n_exec as f64 * 6.0;
            println!(
                "| durable transitions/s (fsync {}) | {:.0} | {n_exec} executions × 10 states (5 Tasks, 5 Pass), {:.0} committed steps/s, {commits} group commits, {:.2} s |",
                if fsync { "on" } else { "off" },
                transitions / secs,
                steps / secs,
                secs
            );
            // 2. Latency: sequential StartExecution until durable (first state entered).
            let sm2 = machine(&store, "lat", json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": true}}}));
            let mut lat = Vec::new();
            for i in 0..(if quick { 50 } else { 2000 }) {
                let t = Instant::now();
                ex.start_execution(StartRequest { machine: sm2.clone(), name: format!("l{i}"), input: "{}".into(), test_case: None }).await.expect("start");
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            lat.sort_by(f64::total_cmp);
            println!(
                "| StartExecution → first state entered, durable (fsync {}) | p50 {:.0} µs, p99 {:.0} µs | sequential, in process, {} calls |",
                if fsync { "on" } else { "off" },
                lat[lat.len() / 2],
                lat[lat.len() * 99 / 100],
                lat.len()
            );
            ex.shutdown().await;

            // 3. Custom task round trips through the embedding API.
            let engine = aslan::Engine::builder()
                .path(base.join(format!("engine-{fsync}")))
                .fsync(fsync)
                .task("arn:aslan:states:::task:inc", |task| async move {
                    let n = task.invocation.parameters["n"].as_i64().unwrap_or(0);
                    Ok(json!({ "n": n + 1 }))
                })
                .open()
                .await
                .expect("engine");
            let one_task = json!({"StartAt": "Inc", "States": {"Inc": {"Type": "Task", "Resource": "arn:aslan:states:::task:inc", "End": true}}});
            engine.create_state_machine("inc", &one_task.to_string()).await.expect("machine");
            let (n_seq, n_par) = if quick { (20, 50) } else { (2_000, 5_000) };
            let mut lat = Vec::new();
            let t = Instant::now();
            for i in 0..n_seq {
                let t = Instant::now();
                let arn = engine.start_execution("inc", Some(&format!("s{i}")), &json!({"n": i})).await.expect("start").arn;
                let done = engine.wait_for_execution(&arn).await.expect("wait");
                assert_eq!(done.output.as_deref(), Some(format!(r#"{{"n":{}}}"#, i + 1).as_str()));
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            let seq_secs = t.elapsed().as_secs_f64();
            lat.sort_by(f64::total_cmp);
            let engine = Arc::new(engine);
            let t = Instant::now();
            let mut handles = Vec::new();
            for i in 0..n_par {
                let engine = engine.clone();
                handles.push(tokio::spawn(async move {
                    let arn = engine.start_execution("inc", Some(&format!("p{i}")), &json!({"n": i})).await.expect("start").arn;
                    engine.wait_for_execution(&arn).await.expect("wait").status
                }));
            }
            for h in handles {
                assert_eq!(h.await.expect("join"), aslan::store::ExecutionStatus::Succeeded);
            }
            let par_secs = t.elapsed().as_secs_f64();
            println!(
                "| custom task round trips/s through `Engine`, one at a time (fsync {}) | {:.0} | {n_seq} executions of one Task answered by a Rust closure, start → handler → result committed → wait returns; p50 {:.0} µs, p99 {:.0} µs |",
                if fsync { "on" } else { "off" },
                n_seq as f64 / seq_secs,
                lat[lat.len() / 2],
                lat[lat.len() * 99 / 100],
            );
            println!(
                "| custom task round trips/s through `Engine`, {n_par} at once (fsync {}) | {:.0} | the same, all started together, {:.2} s |",
                if fsync { "on" } else { "off" },
                n_par as f64 / par_secs,
                par_secs
            );
            if let Ok(engine) = Arc::try_unwrap(engine) {
                engine.shutdown().await;
            }
        }

        // The fsync syscall, seen by strace: one fdatasync per group commit?
        if !quick && Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()) {
            let dir = base.join("strace");
            let trace = base.join("strace.txt");
            let (v, _, _) = spawn_child(
                &["strace", "-f", "-e", "trace=fsync,fdatasync,sync_file_range", "-o", trace.to_str().expect("utf-8 path")],
                "fsync",
                &dir,
                200,
            );
            let text = std::fs::read_to_string(&trace).expect("strace output");
            let count = |call: &str| text.matches(&format!("{call}(")).count();
            println!(
                "| syscalls of a 200-execution run (fsync on), under `strace -f` | {} `fdatasync`, {} `fsync`, {} `sync_file_range` | {} group commits by the executor, plus 1 commit registering the state machine |",
                count("fdatasync"),
                count("fsync"),
                count("sync_file_range"),
                v["commits"]
            );
        }

        // A durable inline Map whose iterations are Tasks: its snapshot grows
        // with the items, so it is written once per group commit, not per step.
        {
            let n_items = if quick { 100 } else { 2_000 };
            let dir = base.join("map");
            let (store, ex, _) = open(&dir, true);
            let sm = machine(
                &store,
                "bigmap",
                json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "T", "States": {
                    "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}}}}),
            );
            let items: Vec<Value> = (0..n_items).map(|i| json!({"id": i})).collect();
            let t = Instant::now();
            let arn = ex
                .start_execution(StartRequest { machine: sm, name: "m".into(), input: json!(items).to_string(), test_case: None })
                .await
                .expect("start")
                .arn;
            wait_all(&store, &[arn]).await;
            println!(
                "| durable inline Map of {n_items} Task iterations (fsync on) | {:.0} ms | {} steps in {} group commits |",
                t.elapsed().as_secs_f64() * 1000.0,
                ex.stats().steps.load(Relaxed),
                ex.stats().commits.load(Relaxed)
            );
            ex.shutdown().await;
        }
        if std::env::var_os("ASLAN_BENCH_ONLY_THROUGHPUT").is_some() {
            return;
        }
        // Executions waiting in a Wait state, then closed.
        let dir = base.join("waiting");
        let (store, ex, _) = open(&dir, true);
        let sm = machine(&store, "waiting", json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "Next": "P"}, "P": {"Type": "Pass", "End": true}}}));
        let t = Instant::now();
        let mut handles = Vec::new();
        for i in 0..n_wait {
            let ex = ex.clone();
            let sm = sm.clone();
            handles.push(tokio::spawn(async move {
                ex.start_execution(StartRequest { machine: sm, name: format!("w{i}"), input: json!({"i": i}).to_string(), test_case: None }).await.expect("start");
            }));
            if handles.len() >= 5000 {
                for h in handles.drain(..) {
                    h.await.expect("join");
                }
            }
        }
        for h in handles {
            h.await.expect("join");
        }
        let started = t.elapsed().as_secs_f64();
        ex.shutdown().await;
        drop(ex);
        drop(store);
        // sled's background flusher may still hold the folder for a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let db_bytes: u64 = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();

        // Cold recovery in a fresh process, best of 3.
        let mut best: Option<(Value, f64, f64)> = None;
        for _ in 0..if quick { 1 } else { 3 } {
            let (v, to_line, to_exit) = spawn_child(&[], "recover", &dir, 0);
            assert_eq!(v["executions"], n_wait);
            if best.as_ref().is_none_or(|b| to_line < b.1) {
                best = Some((v, to_line, to_exit));
            }
        }
        let (v, to_line, to_exit) = best.expect("a run");
        println!(
            "| cold recovery with {n_wait} waiting executions (fresh process) | **{to_line:.0} ms** from spawning the process to recovered | in the process: open the store {:.0} ms, then `Executor::start` recovered {} executions and re-armed {} timers in {} ms (`RecoveryReport`); `main` to recovered {:.0} ms; spawn to exit (after shutdown) {to_exit:.0} ms; store {:.0} MiB on disk, written in {started:.1} s |",
            v["open_ms"].as_f64().unwrap_or(0.0),
            v["executions"],
            v["timers"],
            v["recovery_ms"],
            v["total_ms"].as_f64().unwrap_or(0.0),
            db_bytes as f64 / (1u64 << 20) as f64,
        );

        // Memory per waiting execution, sled's cache excluded.
        let (v, _, _) = spawn_child(&[], "memory", &dir, 0);
        let n = v["executions"].as_f64().unwrap_or(1.0).max(1.0);
        let heap = v["heap_bytes"].as_f64().unwrap_or(0.0) / n;
        println!(
            "| memory per waiting execution (executor state, sled's cache excluded) | **{heap:.0} bytes** of live heap, {:.1} blocks | fresh process with sled's cache warmed first; growth over {n} recovered executions; RSS grew {:.0} bytes per execution; 1,000,000 would take {:.2} GiB plus sled's cache (1 GiB cap) |",
            v["heap_blocks"].as_f64().unwrap_or(0.0) / n,
            v["rss_growth"].as_f64().unwrap_or(0.0) / n,
            heap * 1e6 / (1u64 << 30) as f64,
        );
    });
    let _ = std::fs::remove_dir_all(&base);
}
