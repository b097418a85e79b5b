//! Code workflows (world `workflow`) in the durable executor: journal and
//! replay across restarts, Kubernetes Jobs in `aslan-local-cloud` made
//! once, child ASL executions, and divergence from the journal. The guests
//! (`flow`, `flow-diverged`) are built by `scripts/guests.sh`.

mod cloud;
mod common;

use aslan::exec::durable::{Executor, ExecutorConfig, RecoveryReport};
use aslan::exec::ManualClock;
use aslan::store::Store;
use aslan::tasks::Registry;
use cloud::{cloud_with, Cloud};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn guest(name: &str) -> PathBuf {
    let dir = std::env::var_os("GUESTS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests"));
    let p = dir.join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: build the guests with scripts/guests.sh",
        p.display()
    );
    p
}

fn config(c: Option<&Cloud>) -> aslan::config::EngineConfig {
    let text = match c {
        Some(c) => format!(
            "[clusters.Dev]\ntoken = \"{}\"\n[modules.flow.allow]\nclusters = [\"Dev\"]\nendpoints = [\"{}\"]\nnamespaces = [\"default\"]\nmethods = [\"GET\", \"POST\"]\nstate_machines = [\"Double\"]\n",
            c.token, c.endpoint
        ),
        None => String::new(),
    };
    aslan::config::EngineConfig::parse(&text).unwrap()
}

/// An executor whose registry serves `flow` as the module `module`.
fn open(dir: &Path, clock: Arc<ManualClock>, c: Option<&Cloud>, module: &str) -> (Store, Executor, RecoveryReport) {
    open_with(dir, clock, config(c), module)
}

fn open_with(
    dir: &Path,
    clock: Arc<ManualClock>,
    cfg: aslan::config::EngineConfig,
    module: &str,
) -> (Store, Executor, RecoveryReport) {
    let host = aslan::wasm::host_with_modules(
        &cfg,
        &[("flow".to_string(), guest(module))],
        Arc::new(aslan::wasm::MemoryState::default()),
    )
    .unwrap();
    let registry = Registry::new().with_wasm(host, &[]);
    let store = Store::open(dir).unwrap();
    let (ex, report) = Executor::start(
        store.clone(),
        ExecutorConfig {
            clock,
            tasks: Arc::new(registry),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            fsync: true,
        },
    )
    .unwrap();
    (store, ex, report)
}

fn flow_machine() -> Value {
    serde_json::from_str(&aslan::wasm::workflow::definition("flow")).unwrap()
}

fn types(h: &[Value]) -> Vec<String> {
    h.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

/// The calls the history records, in order.
fn calls(h: &[Value]) -> Vec<String> {
    h.iter()
        .filter(|e| e["type"] == "HostCallRecorded")
        .map(|e| e["hostCallRecordedEventDetails"]["call"].as_str().unwrap().to_string())
        .collect()
}

/// Runs until the execution ends: each round advances the clock by `step`
/// ms; every `restart_every` rounds the executor is shut down and opened
/// again on the same store. Gives the store, the executor and the number
/// of restarts.
/// Where `drive` reopens the executor.
struct Setup<'a> {
    dir: &'a Path,
    clock: &'a Arc<ManualClock>,
    cloud: Option<&'a Cloud>,
    module: &'a str,
}

async fn drive(
    at: Setup<'_>,
    arn: &str,
    step: i64,
    restart_every: usize,
    (mut store, mut ex): (Store, Executor),
) -> (Store, Executor, usize) {
    let mut restarts = 0;
    for round in 1..3_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if store.execution_by_arn(arn).unwrap().unwrap().status != "RUNNING" {
            return (store, ex, restarts);
        }
        at.clock.advance(step);
        if round % restart_every == 0 {
            ex.shutdown().await;
            drop(store);
            let (s, e, _) = open(at.dir, at.clock.clone(), at.cloud, at.module);
            (store, ex) = (s, e);
            restarts += 1;
        }
    }
    panic!("{arn} did not end");
}

/// The Jobs in the emulator's `default` namespace, listed with `aslan run`
/// and `eks:call`.
fn jobs(c: &Cloud) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("aslan-wf-jobs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let def = json!({"StartAt": "L", "States": {"L": {"Type": "Task", "Resource": "arn:aws:states:::eks:call",
        "Parameters": {"ClusterName": "Dev", "CertificateAuthority": c.ca, "Endpoint": c.endpoint,
            "Method": "GET", "Path": "/apis/batch/v1/namespaces/default/jobs"}, "End": true}}});
    std::fs::write(dir.join("l.asl.json"), def.to_string()).unwrap();
    std::fs::write(
        dir.join("aslan.toml"),
        format!("[clusters.Dev]\ntoken = \"{}\"\n", c.token),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aslan"))
        .arg("run")
        .arg(dir.join("l.asl.json"))
        .arg("--config")
        .arg(dir.join("aslan.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["ResponseBody"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn job(name: &str, duration_ms: u32) -> Value {
    json!({"metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": {"aslan.io/duration-ms": duration_ms.to_string()}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_workflow_restarted_at_every_step_ends_with_each_effect_made_once() {
    restarted_at_every_step("flow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_workflow_restarted_at_every_step_ends_with_each_effect_made_once() {
    restarted_at_every_step("flow-python").await;
}

async fn restarted_at_every_step(module: &str) {
    let c = cloud_with(&[], &[]);
    let dir = tempdir(&format!("workflow-restarts-{module}"));
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = open(&dir, clock.clone(), Some(&c), module);
    let sm = machine(&store, "Flow", flow_machine()).await;
    machine(
        &store,
        "Double",
        json!({"StartAt": "D", "States": {"D": {"Type": "Pass",
        "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": true}}}),
    )
    .await;
    let cluster = json!({"name": "Dev", "endpoint": c.endpoint, "ca": c.ca});
    let input = json!({"steps": [
        {"op": "now"},
        {"op": "uuid"},
        {"op": "random"},
        {"op": "sleep", "ms": 60_000},
        {"op": "job", "cluster": cluster, "namespace": "default", "job": job("wf-once", 300)},
        {"op": "child", "stateMachine": "Double", "input": {"n": 21}},
        {"op": "children", "stateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:Double",
         "inputs": [{"n": 1}, {"n": 2}, {"n": 3}]},
        {"op": "sleep", "ms": 120_000},
        {"op": "log", "message": "done"}
    ]});
    let rec = ex.start_execution(start(&sm, "e1", input)).await.unwrap();
    let setup = Setup {
        dir: &dir,
        clock: &clock,
        cloud: Some(&c),
        module,
    };
    let (store, ex, restarts) = drive(setup, &rec.arn, 5_000, 3, (store, ex)).await;
    assert!(restarts >= 6, "restarted {restarts} times");
    let done = store.execution_by_arn(&rec.arn).unwrap().unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    let r = &out["results"];
    assert!(
        r[0].as_u64().unwrap() > 1_700_000_000_000,
        "now-ms is the host's clock: {out}"
    );
    assert_eq!(r[1].as_str().unwrap().len(), 36, "{out}");
    assert_eq!(r[4]["job"], "wf-once");
    assert_eq!(r[4]["status"], "Complete");
    assert_eq!(r[5], json!({"doubled": 42}));
    assert_eq!(r[6], json!([{"doubled": 2}, {"doubled": 4}, {"doubled": 6}]));

    // Each effect happened once: one Job, four child executions.
    assert_eq!(jobs(&c), ["wf-once"]);
    let children: Vec<u64> = store.executions_of("Double").map(|r| r.unwrap().1).collect();
    assert_eq!(children.len(), 4);

    // The history shows every journaled call, once, in order; the values
    // the guest saw are the recorded ones.
    let h = store.history(done.id).unwrap();
    let calls = calls(&h);
    assert_eq!(
        &calls[..6],
        [
            "durable.now-ms",
            "durable.uuid",
            "durable.random-u64",
            "durable.sleep-ms",
            "durable.completed",
            "kubernetes.create-job"
        ]
    );
    assert_eq!(calls.iter().filter(|c| *c == "kubernetes.create-job").count(), 1);
    assert_eq!(calls.iter().filter(|c| *c == "durable.start-execution").count(), 4);
    assert_eq!(&calls[calls.len() - 2..], ["durable.sleep-ms", "durable.completed"]);
    let now = h
        .iter()
        .find(|e| e["hostCallRecordedEventDetails"]["call"] == "durable.now-ms")
        .unwrap();
    assert_eq!(now["hostCallRecordedEventDetails"]["result"], json!(r[0].to_string()));
    let t = types(&h);
    assert_eq!(
        &t[..4],
        ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted"]
    );
    assert_eq!(
        &t[t.len() - 3..],
        ["TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    );
    // The journal went with its task (the children journal nothing).
    assert_eq!(store.journal_entry_count(), 0);
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_changed_while_its_workflow_sleeps_fails_with_non_determinism() {
    let dir = tempdir("workflow-diverged");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = open(&dir, clock.clone(), None, "flow");
    let sm = machine(&store, "Flow", flow_machine()).await;
    let input = json!({"steps": [{"op": "now"}, {"op": "sleep", "ms": 60_000}, {"op": "now"}]});
    let rec = ex.start_execution(start(&sm, "e1", input)).await.unwrap();
    // now-ms, then the sleep's start.
    until(|| calls(&store.history(rec.id).unwrap()).len() == 2).await;
    ex.shutdown().await;
    drop(store);
    // The module is replaced by one that asks for a UUID before sleeping.
    let (store, ex, report) = open(&dir, clock.clone(), None, "flow-diverged");
    // The sleep resumes as a poll, or as a dispatch when the server stopped
    // before the task's poll step was committed.
    assert_eq!(report.polls + report.tasks, 1, "{report:?}");
    clock.advance(60_000);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "FAILED");
    assert_eq!(done.error.as_deref(), Some("Wasm.NonDeterminism"));
    let cause = done.cause.unwrap();
    assert!(
        cause.contains("at entry 1: the journal records durable.sleep-ms")
            && cause.contains("but the guest called durable.uuid"),
        "{cause}"
    );
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_error_fails_the_execution_and_catch_sees_it_in_asl() {
    let dir = tempdir("workflow-error");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = open(&dir, clock.clone(), None, "flow");
    let sm = machine(&store, "Flow", flow_machine()).await;
    let rec = ex
        .start_execution(start(
            &sm,
            "e1",
            json!({"steps": [{"op": "fail", "error": "Flow.Bad", "cause": "asked"}]}),
        ))
        .await
        .unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(
        (done.status.as_str(), done.error.as_deref(), done.cause.as_deref()),
        ("FAILED", Some("Flow.Bad"), Some("asked"))
    );
    // Starting an execution of a machine outside the module's allowlist
    // (here: nothing allowed) fails the workflow, whatever it does next.
    let rec = ex
        .start_execution(start(
            &sm,
            "e2",
            json!({"steps": [{"op": "child", "stateMachine": "Flow", "input": {}}]}),
        ))
        .await
        .unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.error.as_deref(), Some("Wasm.Denied"), "{:?}", done.cause);
    assert!(done
        .cause
        .unwrap()
        .contains("may not start or await executions of the state machine Flow"));
    assert_eq!(store.executions_of("Flow").count(), 2, "no child was started");
    // ASL calls the code workflow as a Task, with Retry and Catch.
    let caller = machine(
        &store,
        "Caller",
        json!({"StartAt": "Code", "States": {
        "Code": {"Type": "Task", "Resource": "arn:aslan:states:::workflow:flow",
            "Retry": [{"ErrorEquals": ["Flow.Bad"], "MaxAttempts": 1, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}], "End": true},
        "Handled": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let rec = ex
        .start_execution(start(
            &caller,
            "c1",
            json!({"steps": [{"op": "uuid"}, {"op": "fail", "error": "Flow.Bad", "cause": "again"}]}),
        ))
        .await
        .unwrap();
    // The first attempt failed (its retry's timer is armed) before the
    // clock moves.
    until(|| types(&store.history(rec.id).unwrap()).contains(&"TaskFailed".to_string())).await;
    clock.advance(1_000);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["error"]["Error"], "Flow.Bad");
    // The retry was a new invocation with a journal of its own: it asked
    // for a UUID again.
    assert_eq!(calls(&store.history(rec.id).unwrap()), ["durable.uuid", "durable.uuid"]);
    ex.shutdown().await;
}

/// The token of the `n`th callback the workflow created (from its history).
fn callback_token(store: &Store, id: u64, n: usize) -> Option<String> {
    let h = store.history(id).unwrap();
    let d: Vec<&Value> = h
        .iter()
        .filter(|e| e["hostCallRecordedEventDetails"]["call"] == "durable.create-callback")
        .collect();
    let r = d.get(n)?["hostCallRecordedEventDetails"]["result"].as_str()?;
    serde_json::from_str(r).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_answered_with_send_task_success_and_failure_across_a_restart() {
    use aslan::exec::durable::{CallbackError, TaskAnswer};
    let dir = tempdir("workflow-callback");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = open(&dir, clock.clone(), None, "flow");
    let sm = machine(&store, "Flow", flow_machine()).await;
    let input = json!({"steps": [{"op": "callback"}, {"op": "callback"}, {"op": "uuid"}]});
    let rec = ex.start_execution(start(&sm, "e1", input)).await.unwrap();
    until(|| callback_token(&store, rec.id, 0).is_some()).await;
    let first = callback_token(&store, rec.id, 0).unwrap();
    assert_eq!(first.len(), 64);
    // The token survives a restart; the answer wakes the workflow at once
    // (the clock does not move).
    ex.shutdown().await;
    drop(store);
    let (store, ex, _) = open(&dir, clock.clone(), None, "flow");
    ex.answer_task(&first, TaskAnswer::Heartbeat).await.unwrap();
    ex.answer_task(&first, TaskAnswer::Success(r#"{"approved": true}"#.into()))
        .await
        .unwrap();
    // A token answers once.
    let again = ex.answer_task(&first, TaskAnswer::Success("{}".into())).await;
    assert_eq!(again, Err(CallbackError::TaskDoesNotExist));
    until(|| callback_token(&store, rec.id, 1).is_some()).await;
    let second = callback_token(&store, rec.id, 1).unwrap();
    assert_ne!(first, second);
    let bad = ex.answer_task(&second, TaskAnswer::Success("not json".into())).await;
    assert!(matches!(bad, Err(CallbackError::InvalidOutput(_))), "{bad:?}");
    ex.answer_task(
        &second,
        TaskAnswer::Failure {
            error: Some("Rejected".into()),
            cause: Some("by a person".into()),
        },
    )
    .await
    .unwrap();
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["results"][0], json!({"approved": true}));
    assert_eq!(out["results"][1], json!({"error": "Rejected", "cause": "by a person"}));
    // The journal, tokens and answers went with the task.
    assert_eq!(store.journal_entry_count(), 0);
    assert!(store.token_entry(&first).unwrap().is_none() && store.token_entry(&second).unwrap().is_none());
    assert!(store.callback_answer(&first).unwrap().is_none());
    ex.shutdown().await;
}

/// A journal in memory whose first append of `fail_call` fails, as when
/// the engine dies after a call's effect and before its entry is committed.
struct CrashOnce {
    inner: aslan::tasks::workflow::MemoryDurable,
    fail_call: &'static str,
    failed: std::sync::atomic::AtomicBool,
}

impl aslan::tasks::workflow::Durable for CrashOnce {
    fn journal(&self, arn: &str, token: u64) -> Result<Vec<Vec<u8>>, String> {
        self.inner.journal(arn, token)
    }
    fn append(
        &self,
        at: aslan::tasks::workflow::JournalAt,
        entry: Vec<u8>,
        note: Value,
        callback: Option<String>,
    ) -> aslan::tasks::workflow::DurableFuture<Result<(), String>> {
        let e: Value = serde_json::from_slice(&entry).unwrap();
        if e["call"] == self.fail_call && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err("the engine died".into())));
        }
        self.inner.append(at, entry, note, callback)
    }
    fn callback_answer(&self, token: &str) -> Result<Option<Value>, String> {
        self.inner.callback_answer(token)
    }
    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }
    fn start_execution(
        &self,
        sm: String,
        name: String,
        input: String,
    ) -> aslan::tasks::workflow::DurableFuture<Result<String, aslan::asl::StateError>> {
        self.inner.start_execution(sm, name, input)
    }
    fn execution_status(
        &self,
        arn: String,
    ) -> aslan::tasks::workflow::DurableFuture<Result<aslan::tasks::workflow::ChildStatus, aslan::asl::StateError>>
    {
        self.inner.execution_status(arn)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_before_a_crash_is_found_again_not_created_twice() {
    use aslan::wasm::journal::{parse_entries, Replay, Wake};
    let c = cloud_with(&[], &[]);
    let host = aslan::wasm::host_with_modules(
        &config(Some(&c)),
        &[("flow".to_string(), guest("flow"))],
        Arc::new(aslan::wasm::MemoryState::default()),
    )
    .unwrap();
    let m = host.module("flow").unwrap();
    let durable: Arc<dyn aslan::tasks::workflow::Durable> = Arc::new(CrashOnce {
        inner: Default::default(),
        fail_call: "kubernetes.create-job",
        failed: Default::default(),
    });
    let cluster = json!({"name": "Dev", "endpoint": c.endpoint, "ca": c.ca});
    let input = json!({"steps": [{"op": "uuid"},
        {"op": "job", "cluster": cluster, "namespace": "default", "job": job("made-once", 0)}]});
    let caller = aslan::wasm::run::Caller {
        region: "us-east-1".into(),
        origin: "test".into(),
    };
    let at = aslan::tasks::workflow::JournalAt {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:Flow:e1".into(),
        token: 7,
        key: "aslan-flow-0123456789abcdef01234567".into(),
        seq: 0,
    };
    let activate = || {
        let entries = parse_entries(durable.journal(&at.execution_arn, at.token).unwrap()).unwrap();
        let replay = Box::new(Replay::new(at.clone(), entries, durable.clone(), Wake::default()));
        host.run_workflow(&m, &caller, input.to_string(), replay)
    };
    // The create is made, and its entry is lost.
    let (r, _) = activate().await.unwrap();
    let e = r.unwrap_err();
    assert!(format!("{e:?}").contains("the engine died"), "{e:?}");
    assert_eq!(jobs(&c), ["made-once"]);
    // Replayed: the uuid is the recorded one, the create finds its Job.
    // The Job's first read may see it running; the poller then sleeps (on
    // the system clock here).
    let out = loop {
        let (r, _) = activate().await.unwrap();
        match r {
            Ok(out) => break out.unwrap(),
            Err(e) => {
                let s = e.downcast_ref::<aslan::wasm::journal::Suspend>().expect("a sleep");
                tokio::time::sleep(Duration::from_millis(s.after_ms)).await;
            }
        }
    };
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["results"][1]["job"], "made-once", "{out}");
    assert_eq!(jobs(&c), ["made-once"]);
    let calls: Vec<String> = parse_entries(durable.journal(&at.execution_arn, at.token).unwrap())
        .unwrap()
        .into_iter()
        .map(|e| e.call)
        .collect();
    assert_eq!(
        calls[..3],
        ["durable.uuid", "kubernetes.create-job", "kubernetes.read-job"]
    );

    // A Job of that name that another invocation made is a real conflict.
    let durable2: Arc<dyn aslan::tasks::workflow::Durable> = Arc::new(aslan::tasks::workflow::MemoryDurable::default());
    let other = aslan::tasks::workflow::JournalAt {
        key: "aslan-flow-another-invocation-000000".into(),
        ..at.clone()
    };
    let replay = Box::new(Replay::new(other, vec![], durable2, Wake::default()));
    let (r, _) = host.run_workflow(&m, &caller, input.to_string(), replay).await.unwrap();
    let err = r.unwrap().unwrap_err();
    assert_eq!(err.error, "EKS.409", "{}", err.cause);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_journal_is_not_guest_time() {
    // 600 calls, each waiting for its group commit (fsync on), under a
    // deadline of 500 ms of guest time per activation. The waits add up to
    // more than twice the deadline (checked below), so counting them would
    // fail the run; the deadline leaves room for what is guest time on a
    // busy machine (150 ms did not: the guest's own share of 600 debug-build
    // calls, wakeups included, passed it on a quiet machine too).
    let deadline = Duration::from_millis(500);
    let dir = tempdir("workflow-deadline");
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = aslan::config::EngineConfig::parse(&format!("[modules.flow]\ndeadline_ms = {}\n", deadline.as_millis()))
        .unwrap();
    let (store, ex, _) = open_with(&dir, clock, cfg, "flow");
    let sm = machine(&store, "Flow", flow_machine()).await;
    let steps = vec![json!({"op": "uuid"}); 600];
    let t = std::time::Instant::now();
    let rec = ex
        .start_execution(start(&sm, "e1", json!({ "steps": steps })))
        .await
        .unwrap();
    let done = loop {
        let r = store.execution_by_arn(&rec.arn).unwrap().unwrap();
        if r.status != "RUNNING" {
            break r;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done.status, "SUCCEEDED", "{:?} {:?}", done.error, done.cause);
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["results"].as_array().unwrap().len(), 600);
    eprintln!("600 journaled calls in {:?}", t.elapsed());
    assert!(
        t.elapsed() > 2 * deadline,
        "the run took {:?}: too fast for its waits to matter against the deadline",
        t.elapsed()
    );
    ex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_comes_while_the_workflow_sleeps_does_not_end_the_sleep() {
    use aslan::exec::durable::TaskAnswer;
    let dir = tempdir("workflow-callback-sleep");
    let clock = Arc::new(ManualClock::new(T0));
    let (store, ex, _) = open(&dir, clock.clone(), None, "flow");
    let sm = machine(&store, "Flow", flow_machine()).await;
    let input = json!({"steps": [{"op": "create-callback"}, {"op": "sleep", "ms": 60_000}, {"op": "await-callback"}]});
    let rec = ex.start_execution(start(&sm, "e1", input)).await.unwrap();
    // The sleep has started (its entry follows the callback's).
    until(|| calls(&store.history(rec.id).unwrap()).len() == 2).await;
    let token = callback_token(&store, rec.id, 0).unwrap();
    ex.answer_task(&token, TaskAnswer::Success(r#"{"early": true}"#.into()))
        .await
        .unwrap();
    // The answer woke the workflow, which slept on: nothing completed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let h = store.history(rec.id).unwrap();
    assert_eq!(calls(&h), ["durable.create-callback", "durable.sleep-ms"], "{h:?}");
    assert_eq!(store.execution_by_arn(&rec.arn).unwrap().unwrap().status, "RUNNING");
    clock.advance(59_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.execution_by_arn(&rec.arn).unwrap().unwrap().status, "RUNNING");
    clock.advance(1_000);
    let done = settle(&store, &rec.arn).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let out: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["results"], json!(["created", "slept", {"early": true}]));
    ex.shutdown().await;
}

#[test]
fn aslan_run_takes_a_wasm_and_runs_it_as_a_code_workflow() {
    let run = |input: Value| {
        let o = Command::new(env!("CARGO_BIN_EXE_aslan"))
            .arg("run")
            .arg(guest("flow"))
            .arg("--input")
            .arg(input.to_string())
            .arg("--history")
            .output()
            .unwrap();
        let out: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code(), out, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    // Sleeps run on the real clock here: 200 ms.
    let (code, out, history) = run(json!({"steps": [{"op": "uuid"}, {"op": "sleep", "ms": 200}, {"op": "random"}]}));
    assert_eq!(code, Some(0), "{history}");
    assert_eq!(out["results"][1], "slept");
    assert_eq!(out["results"][0].as_str().unwrap().len(), 36);
    // The machine is the module's one Task state.
    assert!(
        history.contains(r#""resource":"arn:aslan:states:::workflow:flow""#),
        "{history}"
    );
    // Callbacks and child executions need a server, and say so.
    let (code, out, _) = run(json!({"steps": [{"op": "callback"}]}));
    assert_eq!(code, Some(1));
    assert_eq!(out["Error"], "States.Runtime");
    assert!(
        out["Cause"]
            .as_str()
            .unwrap()
            .contains("only on a server (aslan serve)"),
        "{out}"
    );
    let (_, out, _) = run(json!({"steps": [{"op": "fail", "error": "Flow.Bad", "cause": "no"}]}));
    assert_eq!(
        (out["Error"].as_str(), out["Cause"].as_str()),
        (Some("Flow.Bad"), Some("no"))
    );
}
