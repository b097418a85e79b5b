//! Durable executor benchmarks (sled on local disk, fsync on every group
//! commit unless stated). `cargo bench -p aslan --bench durable` prints a
//! Markdown table; BENCHMARKS.md records it.
//!
//! - transitions/s with many executions whose steps are separate commits
//!   (each Task result is its own event);
//! - StartExecution → first state entered: latency until the start (which
//!   includes entering the first state) is durable, sequential calls;
//! - memory per open waiting execution (RSS growth / executions);
//! - recovery time with that many in-flight executions.

use aslan::exec::durable::{Executor, ExecutorConfig, StartRequest};
use aslan::exec::SystemClock;
use aslan::store::{StateMachineRecord, Store};
use aslan::tasks::{FnIntegration, Registry};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn open(dir: &std::path::Path, fsync: bool) -> (Store, Executor, aslan::exec::durable::RecoveryReport) {
    let store = Store::open(dir).expect("open store");
    let (ex, report) = Executor::start(
        store.clone(),
        ExecutorConfig {
            clock: Arc::new(SystemClock),
            tasks: echo(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            fsync,
        },
    )
    .expect("executor");
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

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let (n_exec, n_wait) = if quick { (50, 500) } else { (5_000, 100_000) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = std::env::temp_dir().join(format!("aslan-bench-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    println!("| benchmark | figure | notes |");
    println!("|---|---|---|");
    rt.block_on(async {
        for fsync in [true, false] {
            // 1. Throughput: executions of 5 sequential Tasks and a Pass chain.
            let dir = base.join(format!("tput-{fsync}"));
            let (store, ex, _) = open(&dir, fsync);
            let mut states = serde_json::Map::new();
            for i in 0..5 {
                let next = if i < 4 { json!({"Next": format!("T{}", i + 1)}) } else { json!({"Next": "P0"}) };
                let mut s = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"i": i, "n.$": "$.n"}, "ResultPath": format!("$.r{i}")});
                s.as_object_mut().unwrap().extend(next.as_object().unwrap().clone());
                states.insert(format!("T{i}"), s);
            }
            for i in 0..5 {
                let s = if i < 4 { json!({"Type": "Pass", "Next": format!("P{}", i + 1)}) } else { json!({"Type": "Pass", "End": true}) };
                states.insert(format!("P{i}"), s);
            }
            let sm = machine(&store, "tput", json!({"StartAt": "T0", "States": states}));
            let t = Instant::now();
            let mut handles = Vec::new();
            for i in 0..n_exec {
                let ex = ex.clone();
                let sm = sm.clone();
                handles.push(tokio::spawn(async move {
                    ex.start_execution(StartRequest { machine: sm, name: format!("e{i}"), input: json!({"n": i}).to_string(), test_case: None })
                        .await
                        .expect("start")
                        .arn
                }));
            }
            let mut arns = Vec::new();
            for h in handles {
                arns.push(h.await.expect("join"));
            }
            wait_all(&store, &arns).await;
            let secs = t.elapsed().as_secs_f64();
            let transitions = n_exec as f64 * 10.0;
            let steps = n_exec as f64 * 6.0;
            println!(
                "| durable transitions/s (fsync {}) | {:.0} | {n_exec} executions × 10 states (5 Tasks, 5 Pass), {:.0} committed steps/s, {:.2} s |",
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
                ex.stats().steps.load(std::sync::atomic::Ordering::Relaxed),
                ex.stats().commits.load(std::sync::atomic::Ordering::Relaxed)
            );
            ex.shutdown().await;
        }
        if std::env::var_os("ASLAN_BENCH_ONLY_THROUGHPUT").is_some() {
            return;
        }
        // 3. Memory per waiting execution, and 4. recovery time.
        let dir = base.join("waiting");
        let (store, ex, _) = open(&dir, true);
        let sm = machine(&store, "waiting", json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "Next": "P"}, "P": {"Type": "Pass", "End": true}}}));
        let before = rss_bytes();
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
        let per = (rss_bytes().saturating_sub(before)) as f64 / n_wait as f64;
        println!(
            "| memory per open waiting execution | {:.0} bytes | RSS growth over {n_wait} waiting executions (started in {:.1} s); 1,000,000 would take {:.1} GiB |",
            per,
            started,
            per * 1e6 / (1u64 << 30) as f64
        );
        ex.shutdown().await;
        drop(store);
        let t = Instant::now();
        let (_store, ex, report) = open(&dir, true);
        println!(
            "| recovery with {} in-flight executions | {} ms | {} timers re-armed; open + recover, measured {:.0} ms end to end |",
            report.executions,
            report.elapsed_ms,
            report.timers,
            t.elapsed().as_secs_f64() * 1000.0
        );
        assert_eq!(report.executions, n_wait);
        ex.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&base);
}
