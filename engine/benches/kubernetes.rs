//! `eks:runJob.sync`: how soon after a Job is Complete does its Task state
//! complete? `cargo bench -p aslan --bench kubernetes` (after `cargo build
//! --release --workspace --bins`, which builds the emulator) prints p50,
//! p99 and max; BENCHMARKS.md records them. Without `--bench` (as `cargo
//! test --benches` runs it) it runs 3 Jobs.
//!
//! Each iteration runs a one-state machine, `eks:runJob.sync` of a Job whose
//! simulated container runs for 200 ms, with the runner `aslan run` uses
//! (`exec::run`, history on), against `aslan-local-cloud` over HTTPS. The
//! emulator records when it set the Job's `Complete` condition
//! (`GET /debug/jobs/{ns}/{name}/completed-at`, nanoseconds); the latency is
//! from that instant to the moment `exec::run` returned with the execution
//! SUCCEEDED (so it includes ending the execution, not only the state).
//! Both clocks are the same machine's wall clock.

#[path = "../tests/cloud/mod.rs"]
mod cloud;

use aslan::asl::{ExecutionInfo, Machine, Options, Status};
use aslan::config::{ClusterCredentials, EngineConfig};
use aslan::exec::{self, Clock, SystemClock};
use aslan::tasks::kubernetes::client::{send, Clients};
use aslan::tasks::kubernetes::{auth::Auth, params::Cluster};
use aslan::tasks::Registry;
use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 3 } else { 200 };
    let c = cloud::cloud_with(&[], &[]);
    let mut cfg = EngineConfig::default();
    cfg.clusters.insert(
        "Bench".into(),
        ClusterCredentials {
            token: Some(c.token.clone()),
            kubeconfig: None,
            context: None,
        },
    );
    let tasks = Arc::new(Registry::builtin(&cfg));
    let def = json!({"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": "arn:aws:states:::eks:runJob.sync",
        "Parameters": {"ClusterName": "Bench", "CertificateAuthority": c.ca, "Endpoint": c.endpoint,
            "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "bench-"},
                "spec": {"backoffLimit": 0, "template": {
                    "metadata": {"annotations": {"aslan.io/duration-ms": "200"}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}},
        "End": true}}});
    let machine = Arc::new(Machine::from_json(&def.to_string()).expect("valid"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pem = base64::engine::general_purpose::STANDARD.decode(&c.ca).unwrap();
    let cluster = Cluster {
        name: "Bench".into(),
        endpoint: c.endpoint.clone(),
        ca_der: pem::parse_many(&pem)
            .unwrap()
            .into_iter()
            .map(|p| p.into_contents())
            .collect(),
    };
    let probe = Clients::new(Auth::new(cfg.clusters.clone()));
    let mut lat_ms = Vec::new();
    for i in 0..n {
        let info = ExecutionInfo::local("bench", &format!("b{i}"), SystemClock.now_ms());
        let (status, done_at) = rt.block_on(async {
            let r = exec::run(
                machine.clone(),
                info,
                json!({}),
                Options {
                    history: true,
                    seed: Some(exec::fresh_seed()),
                    history_sink: None,
                    variables: None,
                    start_list: None,
                },
                &SystemClock,
                tasks.clone(),
            )
            .await;
            (r.status, chrono::Utc::now())
        });
        let Status::Succeeded(job) = status else {
            panic!("iteration {i}: {status:?}");
        };
        let name = job["metadata"]["name"].as_str().unwrap().to_string();
        let completed = rt.block_on(async {
            let client = probe.get(&cluster, "us-east-1").await.unwrap();
            let r = send(
                &client,
                &cluster,
                http::Method::GET,
                &format!("/debug/jobs/default/{name}/completed-at"),
                None,
            )
            .await
            .unwrap();
            assert!(r.status.is_success(), "{}", String::from_utf8_lossy(&r.body));
            String::from_utf8(r.body).unwrap()
        });
        let completed = chrono::DateTime::parse_from_rfc3339(completed.trim().trim_matches('"'))
            .unwrap_or_else(|e| panic!("completed-at {completed:?}: {e}"));
        let d = done_at.signed_duration_since(completed);
        lat_ms.push(d.num_microseconds().unwrap() as f64 / 1000.0);
    }
    lat_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat_ms[((lat_ms.len() as f64 - 1.0) * p).round() as usize];
    println!("| benchmark | Jobs | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|---|---|---|---|---|");
    println!(
        "| Job `Complete` → `aslan run` ends SUCCEEDED (eks:runJob.sync, watch) | {n} | {:.2} | {:.2} | {:.2} |",
        pct(0.5),
        pct(0.99),
        lat_ms[lat_ms.len() - 1]
    );
    assert!(lat_ms[0] >= 0.0, "the Task completed before the Job did: {lat_ms:?}");
}
