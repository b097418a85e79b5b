//! WebAssembly guests: poller invocations per second (a fresh `Store`,
//! instantiation from the `InstancePre`, and one `poll` call, as every poll
//! of a `.sync` task does) with the pooling allocator and with on-demand
//! allocation, and the cold start of a component from the on-disk cache
//! against compiling it.
//!
//! `cargo bench -p aslan --bench wasm` after `scripts/guests.sh`; under
//! `cargo test` it runs a few iterations only.

use aslan::wasm::bindings::types::{Context, Decision};
use aslan::wasm::run::Caller;
use aslan::wasm::{MemoryState, ModuleConfig, Services, WasmHost, WasmSettings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn guest(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../target/guests/{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}: build the guests with scripts/guests.sh", p.display()))
}

fn host(pooling: bool, cache: Option<PathBuf>) -> WasmHost {
    let cfg = aslan::config::EngineConfig::default();
    let settings = WasmSettings {
        pooling,
        cache_dir: cache,
        ..WasmSettings::default()
    };
    WasmHost::new(&settings, Services::new(&cfg, Arc::new(MemoryState::default()))).unwrap()
}

fn ctx() -> Context {
    Context {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:sm:e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:sm".into(),
        state_name: "Run".into(),
        attempt: 0,
        region: "us-east-1".into(),
        account: "123456789012".into(),
        idempotency_key: "aslan-sm-0123".into(),
    }
}

async fn polls(h: &WasmHost, module: &str, n: usize) {
    let m = h.module(module).unwrap();
    let caller = Caller {
        region: "us-east-1".into(),
        origin: "bench".into(),
    };
    let request = r#"{"Resource":"arn:aws:states:::eks:runJob.sync","Parameters":{},"Started":{"Namespace":"default","Name":"pi"}}"#;
    for _ in 0..n {
        let d = h
            .poll(&m, &caller, ctx(), request.to_string(), Some("{\"attempt\":1}".into()))
            .await
            .unwrap();
        assert!(matches!(d, Decision::Again(_)), "{d:?}");
    }
}

/// Polls per second over `n` sequential polls, and the CPU seconds used
/// per wall second (how many cores the loop kept busy). `dispatched`:
/// from another runtime, as the executor calls (each poll hops to the
/// guests' runtime and back); else from a task on the guests' runtime
/// (instantiate + call only).
fn polls_per_second(h: &Arc<WasmHost>, module: &'static str, n: usize, dispatched: bool) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |n: usize| {
        if dispatched {
            rt.block_on(polls(h, module, n))
        } else {
            let h2 = h.clone();
            rt.block_on(h.guest_runtime().spawn(async move { polls(&h2, module, n).await }))
                .unwrap()
        }
    };
    run(n / 10 + 1); // warm the pool
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    run(n);
    let wall = t.elapsed().as_secs_f64();
    (n as f64 / wall, (cpu_seconds() - cpu0) / wall)
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (clock ticks of 10 ms).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    // `cargo bench --bench wasm -- polls` (or `cold`) runs one part only;
    // `-- pooled` only the first row (pooling, on the guests' runtime), for
    // profiles.
    let pooled = std::env::args().any(|a| a == "pooled");
    let parts: Vec<String> = std::env::args().filter(|a| a == "polls" || a == "cold").collect();
    let only = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let n = if quick { 50 } else { 100_000 };
    let noop = guest("noop-poller");
    println!("poller invocations (fresh Store + instantiate from InstancePre + decide), {n} sequential:");
    for pooling in [true, false].into_iter().filter(|p| only("polls") && (*p || !pooled)) {
        let h = Arc::new(host(pooling, None));
        h.add_module("noop", &noop, ModuleConfig::default()).unwrap();
        for dispatched in [false, true].into_iter().filter(|d| !*d || !pooled) {
            let mut best = (0.0, 0.0);
            for _ in 0..if quick { 1 } else { 5 } {
                let r = polls_per_second(&h, "noop", n, dispatched);
                if r.0 > best.0 {
                    best = r;
                }
            }
            println!(
                "  {:<10} {:<38} {:>8.0} polls/s ({:.1} µs each), {:.2} cores busy",
                if h.pooling() { "pooling" } else { "on-demand" },
                if dispatched {
                    "dispatched from another runtime"
                } else {
                    "on the guests' runtime"
                },
                best.0,
                1e6 / best.0,
                best.1
            );
        }
    }
    if !only("cold") || pooled {
        return;
    }
    println!(
        "cold start: register a component (compile vs. load from the on-disk cache), best of {}:",
        if quick { 1 } else { 3 }
    );
    let dir = std::env::temp_dir().join(format!("aslan-bench-wasm-{}", std::process::id()));
    for name in ["rust-poller", "c-poller", "js-poller", "python-poller"] {
        let bytes = guest(name);
        let time = |cache: bool| {
            let mut best = Duration::MAX;
            for _ in 0..if quick { 1 } else { 3 } {
                let _ = std::fs::remove_dir_all(&dir);
                if cache {
                    host(true, Some(dir.clone()))
                        .add_module("m", &bytes, ModuleConfig::default())
                        .unwrap();
                }
                let h = host(true, Some(dir.clone()));
                let t = Instant::now();
                let m = h.add_module("m", &bytes, ModuleConfig::default()).unwrap();
                best = best.min(t.elapsed());
                assert_eq!(m.source == aslan::wasm::cache::Source::Cache, cache);
            }
            best
        };
        let (compiled, cached) = (time(false), time(true));
        println!(
            "  {name:<14} {:>9} bytes: compile {:>9.1} ms, from cache {:>7.2} ms ({:.0}x)",
            bytes.len(),
            compiled.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3,
            compiled.as_secs_f64() / cached.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
