//! Helpers shared by the durable executor's integration tests.
#![allow(dead_code)]

use aslan::exec::durable::{Executor, ExecutorConfig, RecoveryReport, StartRequest};
use aslan::exec::ManualClock;
use aslan::store::{ExecutionRecord, StateMachineRecord, Store};
use aslan::tasks::{Integration, Registry};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The tests' epoch.
pub const T0: i64 = 1_750_000_000_000;

/// A registry with one integration.
pub fn registry(i: Arc<dyn Integration>) -> Arc<Registry> {
    let mut r = Registry::new();
    r.register(i);
    Arc::new(r)
}

/// Opens the store in `dir` and starts an executor on it (us-east-1, fsync on).
pub fn executor(dir: &Path, clock: Arc<ManualClock>, tasks: Arc<dyn Integration>) -> (Store, Executor, RecoveryReport) {
    let store = Store::open(dir).unwrap();
    let cfg = ExecutorConfig {
        clock,
        tasks: registry(tasks),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        fsync: true,
    };
    let (ex, report) = Executor::start(store.clone(), cfg).unwrap();
    (store, ex, report)
}

/// Stores a state machine.
pub async fn machine(store: &Store, name: &str, def: Value) -> StateMachineRecord {
    let rec = StateMachineRecord {
        name: name.into(),
        arn: format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}"),
        definition: def.to_string(),
        role_arn: "arn:aws:iam::123456789012:role/R".into(),
        sm_type: "STANDARD".into(),
        created_ms: T0,
        updated_ms: T0,
        revision: 1,
    };
    store.put_machine(&rec).await.unwrap();
    rec
}

/// A StartExecution request.
pub fn start(sm: &StateMachineRecord, name: &str, input: Value) -> StartRequest {
    StartRequest {
        machine: sm.clone(),
        name: name.into(),
        input: input.to_string(),
        test_case: None,
    }
}

/// Waits until the execution has ended (up to 5 s).
pub async fn settle(store: &Store, arn: &str) -> ExecutionRecord {
    for _ in 0..1000 {
        let rec = store.execution_by_arn(arn).unwrap().unwrap();
        if rec.status != "RUNNING" {
            return rec;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{arn} did not finish");
}

/// Waits until `f` holds (up to 5 s).
pub async fn until(mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

/// A fresh folder for one test's store.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aslan-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
