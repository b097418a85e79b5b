//! Distributed Map benchmark (issue 11): a Map Run over the items of one
//! JSON Lines object in S3 (moto's server, `.venv/bin/moto_server`, which
//! `scripts/test.sh` installs), with Pass-state children that output `0`
//! (so that 100,000 outputs fit in the 256 KiB result). `cargo bench -p
//! aslan --bench distributed` uses 100,000 items and prints a Markdown
//! table for BENCHMARKS.md; without `--bench` (as `cargo test --benches`
//! runs it) it uses 2,000 items and skips the peer.
//!
//! Each measurement runs in a fresh process (this binary, `--child MODE`),
//! which reports its wall time from the start of the execution to its end
//! and its peak resident memory (`VmHWM`):
//!
//! - `inproc`: `Engine::builder().run_once` with the built-in integrations,
//!   what `aslan run` does: nothing durable, children without history;
//! - `durable`: `Engine` on a sled folder with fsync on, what `aslan serve`
//!   does: the Map Run record, every child an execution with its own
//!   history and snapshot, group commits.
//!
//! The peer, aws-local-stepfunctions, has no ItemReader and no child
//! executions: its row is the nearest work it can do, an inline Map over
//! the same 100,000 items given in the input, with the same Pass state.

use aslan::asl::Status;
use aslan::tasks::Registry;
use aslan::{Engine, RunOnce};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "bench";
const KEY: &str = "items.jsonl";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn definition(concurrency: u64) -> Value {
    json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "Label": "Bench", "MaxConcurrency": concurrency,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSONL"}, "Parameters": {"Bucket": BUCKET, "Key": KEY}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 0, "End": true}}},
        "ResultSelector": {"count.$": "States.ArrayLength($)"},
        "End": true}}})
}

struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> Moto {
    let exe = root().join(".venv/bin/moto_server");
    assert!(
        exe.exists(),
        "{} is missing: scripts/test.sh installs moto[server] into .venv",
        exe.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(exe)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto(child, format!("http://127.0.0.1:{port}"))
}

fn set_env(endpoint: &str) {
    for (k, v) in [
        ("AWS_ENDPOINT_URL_S3", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        // SAFETY: set before any thread of this process reads the environment.
        unsafe { std::env::set_var(k, v) };
    }
}

async fn upload(items: usize) {
    let sdk = aslan::tasks::aws::sdk_config().await;
    let conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    s3.create_bucket().bucket(BUCKET).send().await.expect("bucket");
    let mut body = String::with_capacity(items * 16);
    for n in 0..items {
        body.push_str(&format!("{{\"n\":{n}}}\n"));
    }
    s3.put_object()
        .bucket(BUCKET)
        .key(KEY)
        .body(body.into_bytes().into())
        .send()
        .await
        .expect("object");
}

/// Peak resident memory of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn builtin() -> Registry {
    Registry::builtin(&aslan::config::EngineConfig::default())
}

/// One measurement in this (fresh) process; prints `{"ms", "count", "hwm_kib"}`.
async fn child(mode: &str, dir: &Path, items: usize, concurrency: u64) {
    let def = definition(concurrency).to_string();
    let (ms, out) = match mode {
        "inproc" => {
            let t = Instant::now();
            let r = Engine::builder()
                .registry(builtin())
                .run_once(&def, json!({}), RunOnce::default())
                .await
                .expect("valid");
            let Status::Succeeded(out) = r.status else {
                panic!("{:?}", r.status)
            };
            (t.elapsed().as_secs_f64() * 1e3, out)
        }
        _ => {
            let engine = Engine::builder()
                .path(dir)
                .registry(builtin())
                .fsync(true)
                .open()
                .await
                .expect("engine");
            engine.create_state_machine("bench", &def).await.expect("machine");
            let t = Instant::now();
            let rec = engine
                .start_execution("bench", Some("run"), &json!({}))
                .await
                .expect("start");
            let done = engine.wait_for_execution(&rec.arn).await.expect("end");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(done.status, "SUCCEEDED", "{done:?}");
            let out: Value = serde_json::from_str(done.output.as_deref().unwrap_or("null")).unwrap();
            engine.shutdown().await;
            (ms, out)
        }
    };
    assert_eq!(out["count"], json!(items), "every item ran");
    println!("{}", json!({"ms": ms, "hwm_kib": vm_hwm_kib()}));
}

fn measure(mode: &str, endpoint: &str, items: usize, concurrency: u64) -> (f64, u64) {
    let dir = std::env::temp_dir().join(format!("aslan-bench-dmap-{}-{mode}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            mode,
            dir.to_str().unwrap(),
            &items.to_string(),
            &concurrency.to_string(),
            endpoint,
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("child runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{mode} failed");
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.lines().last().unwrap_or("")).expect("child's report");
    (v["ms"].as_f64().unwrap(), v["hwm_kib"].as_u64().unwrap())
}

/// The peer's best of `runs`: an inline Map over `items` items from the input.
fn peer(items: usize, runs: usize) -> Option<f64> {
    let dir = root().join("tests/peer");
    if !dir.join("node_modules/aws-local-stepfunctions").exists() {
        eprintln!("peer not installed (npm ci in tests/peer); skipping it");
        return None;
    }
    let tmp = std::env::temp_dir().join(format!("aslan-bench-dmap-peer-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 1000,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 0, "End": true}}},
        "ResultSelector": {"count.$": "States.ArrayLength($)"}, "End": true}}});
    let input: Vec<Value> = (0..items).map(|n| json!({"n": n})).collect();
    let (d, i) = (tmp.join("def.json"), tmp.join("input.json"));
    std::fs::write(&d, def.to_string()).unwrap();
    std::fs::write(&i, Value::Array(input).to_string()).unwrap();
    let out = Command::new("node")
        .current_dir(&dir)
        .args(["run-peer.mjs", "--bench"])
        .arg(&d)
        .arg(&i)
        .arg(runs.to_string())
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&tmp);
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    assert_eq!(v["output"]["count"], json!(items), "the peer ran every item");
    v["ms"].as_array()?.iter().filter_map(Value::as_f64).reduce(f64::min)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        set_env(&args[6]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (items, concurrency) = (args[4].parse().unwrap(), args[5].parse().unwrap());
        rt.block_on(child(&args[2], Path::new(&args[3]), items, concurrency));
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let items = if full { 100_000 } else { 2_000 };
    let concurrency = 1_000;
    let m = moto();
    set_env(&m.1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(upload(items));
    let runs = if full { 3 } else { 1 };
    println!("Distributed Map over {items} items of one JSON Lines object in moto's S3, Pass children, MaxConcurrency {concurrency}; best of {runs} fresh processes each");
    println!();
    println!("| mode | wall time (ms) | child executions/s | peak RSS (MiB) |");
    println!("|---|---|---|---|");
    for mode in ["inproc", "durable"] {
        let mut best = (f64::MAX, u64::MAX);
        for _ in 0..runs {
            let (ms, hwm) = measure(mode, &m.1, items, concurrency);
            best = (best.0.min(ms), best.1.min(hwm));
        }
        let label = if mode == "inproc" {
            "in process (`run_once`, as `aslan run`)"
        } else {
            "durable (`Engine` on sled, fsync on, as `aslan serve`)"
        };
        println!(
            "| {label} | {:.0} | {:.0} | {:.1} |",
            best.0,
            items as f64 / (best.0 / 1e3),
            best.1 as f64 / 1024.0
        );
    }
    if full {
        match peer(items, 3) {
            Some(ms) => println!(
                "| aws-local-stepfunctions: inline Map over the same items from the input (no reader, no child executions), best of 3 in one process | {ms:.0} | {:.0} (iterations/s) | n/a |",
                items as f64 / (ms / 1e3)
            ),
            None => println!("| aws-local-stepfunctions | n/a | n/a | n/a |"),
        }
    }
}
