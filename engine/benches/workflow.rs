//! Code workflows: journaled host calls per second and the replay of a
//! journal, against the same work written in ASL.
//!
//! The work: N UUIDs, each one recorded. The code workflow is the test
//! guest `flow` with one `uuids` step (N `durable.uuid` calls, each
//! journaled before the guest sees it). The ASL twin is a Choice loop whose Pass
//! state takes `States.UUID()` N times (each in the execution's history).
//!
//! - **live, durable**: an execution through the durable executor (sled,
//!   group commit), with fsync on and off: every call is one group commit,
//!   and with fsync one `fdatasync`;
//! - **live, in memory**: one activation with the journal in memory (as
//!   `aslan run` keeps it);
//! - **replay**: one activation over the full journal of N entries (what a
//!   restart, or the wake after a sleep, costs);
//! - **ASL twin**: the same loop in Aslan's durable executor (fsync on) and
//!   in the peer, aws-local-stepfunctions (in memory, no history kept; skipped
//!   when `tests/peer` is not installed).
//!
//! `cargo bench -p aslan --bench workflow` (N = 10,000) after
//! `scripts/guests.sh`; under `cargo test` N is 100 and the peer is skipped.

use aslan::exec::durable::{Executor, ExecutorConfig, StartRequest};
use aslan::exec::SystemClock;
use aslan::store::{StateMachineRecord, Store};
use aslan::tasks::workflow::{Durable, JournalAt, MemoryDurable};
use aslan::tasks::Registry;
use aslan::wasm::journal::{parse_entries, Replay, Wake};
use aslan::wasm::run::Caller;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn guest(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../target/guests/{name}.wasm"));
    assert!(p.exists(), "{}: build the guests with scripts/guests.sh", p.display());
    p
}

fn host() -> Arc<aslan::wasm::WasmHost> {
    aslan::wasm::host_with_modules(
        &aslan::config::EngineConfig::default(),
        &[("flow".to_string(), guest("flow"))],
        Arc::new(aslan::wasm::MemoryState::default()),
    )
    .unwrap()
}

fn uuids(n: usize) -> Value {
    json!({ "steps": [{"op": "uuids", "n": n}] })
}

fn asl_twin(n: usize) -> Value {
    json!({"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": {"i": 0, "n": n}, "Next": "Loop"},
        "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Gen"}], "Default": "Done"},
        "Gen": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n", "id.$": "States.UUID()"}, "Next": "Loop"},
        "Done": {"Type": "Succeed"}}})
}

fn machine(store: &Store, rt: &tokio::runtime::Runtime, name: &str, def: &Value) -> StateMachineRecord {
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
    rt.block_on(store.put_machine(&rec)).unwrap();
    rec
}

/// Wall time of one durable execution of `def` with `input`.
fn durable(rt: &tokio::runtime::Runtime, dir: &Path, fsync: bool, def: &Value, input: &Value) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    let store = Store::open(dir).unwrap();
    let registry = Registry::new().with_wasm(host(), &[]);
    let (ex, _) = rt.block_on(async {
        Executor::start(
            store.clone(),
            ExecutorConfig {
                clock: Arc::new(SystemClock),
                tasks: Arc::new(registry),
                region: "us-east-1".into(),
                account: "123456789012".into(),
                fsync,
            },
        )
        .unwrap()
    });
    let sm = machine(&store, rt, "M", def);
    let t = Instant::now();
    let rec = rt
        .block_on(ex.start_execution(StartRequest {
            machine: sm,
            name: "e".into(),
            input: input.to_string(),
            test_case: None,
        }))
        .unwrap();
    loop {
        let r = store.execution_by_arn(&rec.arn).unwrap().unwrap();
        if r.status != "RUNNING" {
            assert_eq!(r.status, "SUCCEEDED", "{:?}: {:?}", r.error, r.cause);
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = t.elapsed();
    rt.block_on(ex.shutdown());
    took
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 10_000 } else { 100 };
    let runs = if full { 3 } else { 1 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("aslan-bench-workflow-{}", std::process::id()));
    let best = |f: &mut dyn FnMut() -> Duration| (0..runs).map(|_| f()).min().unwrap();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("code workflows: {n} journaled durable.uuid calls; best of {runs}");

    // In memory: one activation, then its replay.
    let h = host();
    let m = h.module("flow").unwrap();
    let caller = Caller {
        region: "us-east-1".into(),
        origin: "bench".into(),
    };
    let at = JournalAt {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:M:e".into(),
        token: 0,
        key: "aslan-m-0".into(),
        seq: 0,
    };
    let input = uuids(n).to_string();
    let mut journal = Vec::new();
    let live_mem = best(&mut || {
        let d: Arc<dyn Durable> = Arc::new(MemoryDurable::default());
        let replay = Box::new(Replay::new(at.clone(), vec![], d.clone(), Wake::default()));
        let t = Instant::now();
        let (r, _) = rt.block_on(h.run_workflow(&m, &caller, input.clone(), replay)).unwrap();
        let took = t.elapsed();
        r.unwrap().unwrap();
        journal = parse_entries(d.journal(&at.execution_arn, 0).unwrap()).unwrap();
        took
    });
    assert_eq!(journal.len(), n);
    let replay = best(&mut || {
        let d: Arc<dyn Durable> = Arc::new(MemoryDurable::default());
        let r = Box::new(Replay::new(at.clone(), journal.clone(), d, Wake::default()));
        let t = Instant::now();
        let (r, _) = rt.block_on(h.run_workflow(&m, &caller, input.clone(), r)).unwrap();
        let took = t.elapsed();
        r.unwrap().unwrap();
        took
    });

    let def = serde_json::from_str(&aslan::wasm::workflow::definition("flow")).unwrap();
    let live_fsync = best(&mut || durable(&rt, &dir, true, &def, &uuids(n)));
    let live_nofsync = best(&mut || durable(&rt, &dir, false, &def, &uuids(n)));
    let twin = asl_twin(n);
    let asl_fsync = best(&mut || durable(&rt, &dir, true, &twin, &json!({})));
    let _ = std::fs::remove_dir_all(&dir);

    let row = |what: &str, d: Duration| {
        println!(
            "  {what:<44} {:>9.1} ms  {:>9.0} UUIDs/s",
            d.as_secs_f64() * 1e3,
            rate(d)
        )
    };
    row("code workflow, durable, fsync on", live_fsync);
    row("code workflow, durable, fsync off", live_nofsync);
    row("code workflow, journal in memory", live_mem);
    row(&format!("replay of the {n}-entry journal"), replay);
    row("ASL twin, Aslan durable, fsync on", asl_fsync);
    if let Some(peer) = full.then(|| peer(&twin)).flatten() {
        println!(
            "  {:<44} {:>9.1} ms  {:>9.0} UUIDs/s",
            "ASL twin, peer (in memory)",
            peer,
            n as f64 / (peer / 1e3)
        );
        println!(
            "  code workflow durable (fsync on) vs the peer: {:.2}x its time; replay vs the peer: {:.2}x",
            live_fsync.as_secs_f64() * 1e3 / peer,
            replay.as_secs_f64() * 1e3 / peer
        );
    }
    println!(
        "  replay vs the live run in memory: {:.2}x its time; code workflow vs ASL twin (both durable, fsync on): {:.1}x",
        replay.as_secs_f64() / live_mem.as_secs_f64(),
        live_fsync.as_secs_f64() / asl_fsync.as_secs_f64()
    );
}

/// The peer's best of 3 for `def` (ms), or None when it is not installed.
fn peer(def: &Value) -> Option<f64> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peer");
    if !dir.join("node_modules/aws-local-stepfunctions").exists() {
        eprintln!("peer not installed (npm ci in tests/peer); skipping it");
        return None;
    }
    let tmp = std::env::temp_dir().join(format!("aslan-bench-wf-peer-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).ok()?;
    let (d, i) = (tmp.join("def.json"), tmp.join("input.json"));
    std::fs::write(&d, def.to_string()).ok()?;
    std::fs::write(&i, "{}").ok()?;
    let out = Command::new("node")
        .arg("run-peer.mjs")
        .arg("--bench")
        .arg(&d)
        .arg(&i)
        .arg("3")
        .current_dir(&dir)
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&tmp);
    if !out.status.success() {
        eprintln!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["ms"].as_array()?.iter().filter_map(Value::as_f64).reduce(f64::min)
}
