//! WebAssembly guests through `aslan run --module` (the contract), and the
//! pollers through the library, against `aslan-local-cloud`. The guests are
//! built from source by `scripts/guests.sh` into `target/guests/`; a
//! missing guest fails the test with that instruction.

mod cloud;

use cloud::{cloud_with, Cloud};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

const CREDS: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "AKIDASLANWASMTEST"),
    ("AWS_SECRET_ACCESS_KEY", "aslan/wasm/test/secret"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

const LANGUAGES: [&str; 4] = ["rust", "python", "js", "c"];

fn guests() -> PathBuf {
    std::env::var_os("GUESTS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests"))
}

fn guest(name: &str) -> PathBuf {
    let p = guests().join(format!("{name}.wasm"));
    assert!(
        p.exists(),
        "{} is missing: build the guests with scripts/guests.sh",
        p.display()
    );
    p
}

fn tmp() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "aslan-wasm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `aslan run DEF --module NAME=PATH... [--config CFG]` with the input.
fn run(def: &Value, input: &Value, modules: &[(&str, &str)], config: &str, extra: &[&str]) -> Output {
    run_env(def, input, modules, config, extra, &[])
}

fn run_env(
    def: &Value,
    input: &Value,
    modules: &[(&str, &str)],
    config: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let dir = tmp();
    let def_path = dir.join("sm.asl.json");
    std::fs::write(&def_path, def.to_string()).unwrap();
    let cfg = dir.join("aslan.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aslan"));
    cmd.arg("run")
        .arg(&def_path)
        .arg("--input")
        .arg(input.to_string())
        .arg("--config")
        .arg(&cfg)
        .args(extra)
        .envs(CREDS)
        .envs(env.iter().copied())
        .env("ASLAN_CACHE_DIR", guests().join("cache"));
    for (name, file) in modules {
        cmd.arg("--module").arg(format!("{name}={}", guest(file).display()));
    }
    let o = cmd.output().expect("aslan runs");
    let _ = std::fs::remove_dir_all(&dir);
    o
}

fn show(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr);
    let tail: String = e
        .chars()
        .rev()
        .take(4000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "status {:?}\nstdout: {}\nstderr: ...{tail}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout)
    )
}

fn ok(o: &Output) -> Value {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn failed(o: &Output) -> (String, String) {
    assert_eq!(o.status.code(), Some(1), "{}", show(o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (v["Error"].as_str().unwrap().into(), v["Cause"].as_str().unwrap().into())
}

fn wasm_task(name: &str) -> Value {
    json!({"Type": "Task", "Resource": format!("arn:aslan:states:::wasm:{name}"), "End": true})
}

#[test]
fn a_task_guest_gets_the_effective_input_and_its_output_is_the_result() {
    let mut t = wasm_task("echo");
    t["Parameters"] = json!({"a.$": "$.x", "b": [1, "two"]});
    t["ResultPath"] = json!("$.echoed");
    let def = json!({"StartAt": "T", "States": {"T": t}});
    let o = run(&def, &json!({"x": {"y": 1}}), &[("echo", "echo")], "", &[]);
    assert_eq!(
        ok(&o),
        json!({"x": {"y": 1}, "echoed": {"a": {"y": 1}, "b": [1, "two"]}})
    );
}

#[test]
fn a_looping_a_memory_hungry_and_a_trapping_guest_each_fail_only_their_task() {
    let branch = |name: &str| {
        let mut t = wasm_task(name);
        let caught = format!("Caught {name}");
        t["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "Next": caught}]);
        json!({"StartAt": name, "States": {name: t, caught: {"Type": "Pass", "End": true}}})
    };
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        branch("spin"), branch("membomb"), branch("trap"), branch("missing"),
        {"StartAt": "echo", "States": {"echo": wasm_task("echo")}}
    ]}}});
    let modules = [
        ("spin", "spin"),
        ("membomb", "membomb"),
        ("trap", "trap"),
        ("echo", "echo"),
    ];
    let started = std::time::Instant::now();
    let o = run(
        &def,
        &json!({"n": 7}),
        &modules,
        "[modules.spin]\ndeadline_ms = 300\n",
        &[],
    );
    let out = ok(&o);
    let took = started.elapsed();
    let err = |i: usize| {
        (
            out[i]["Error"].as_str().unwrap().to_string(),
            out[i]["Cause"].as_str().unwrap().to_string(),
        )
    };
    let (e, c) = err(0);
    assert_eq!(e, "Wasm.DeadlineExceeded", "{c}");
    assert!(c.contains("300ms"), "{c}");
    let (e, c) = err(1);
    assert_eq!(e, "Wasm.ResourceLimitExceeded", "{c}");
    assert!(c.contains("67108864"), "the 64 MiB default limit: {c}");
    let (e, c) = err(2);
    assert_eq!(e, "Wasm.Trap", "{c}");
    // The trap, and the guest's stderr (its panic message) in the cause.
    assert!(c.contains("unreachable"), "{c}");
    assert!(
        c.contains("guest output:") && c.contains("trap: this guest always panics"),
        "{c}"
    );
    let (e, c) = err(3);
    assert_eq!(e, "Wasm.ModuleNotFound", "{c}");
    assert!(c.contains("\"missing\""), "{c}");
    // The healthy branch ran alongside.
    assert_eq!(out[4], json!({"n": 7}));
    assert!(took.as_secs() < 60, "took {took:?}");
}

#[test]
fn retry_applies_to_a_trapping_guest() {
    let mut t = wasm_task("trap");
    t["Retry"] = json!([{"ErrorEquals": ["Wasm.Trap"], "MaxAttempts": 2, "IntervalSeconds": 1}]);
    let def = json!({"StartAt": "T", "States": {"T": t}});
    let o = run(
        &def,
        &json!({}),
        &[("trap", "trap")],
        "",
        &["--history", "--clock", "simulated"],
    );
    let (e, _) = failed(&o);
    assert_eq!(e, "Wasm.Trap");
    let failures = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|ev| ev["type"] == "TaskFailed")
        .count();
    assert_eq!(failures, 3, "one attempt and two retries");
}

#[test]
fn a_module_that_is_not_a_component_of_our_worlds_is_refused_at_startup() {
    let dir = tmp();
    let bogus = dir.join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let def = json!({"StartAt": "T", "States": {"T": wasm_task("b")}});
    let def_path = dir.join("sm.json");
    std::fs::write(&def_path, def.to_string()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aslan"))
        .arg("run")
        .arg(&def_path)
        .arg("--module")
        .arg(format!("b={}", bogus.display()))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("module b") && e.contains("component"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn kube_config(c: &Cloud, allow: &str) -> String {
    format!(
        "[clusters.MyCluster]\ntoken = \"{}\"\n[modules.hc]\n[modules.hc.allow]\nendpoints = [\"{}\"]\n{allow}\n",
        c.token, c.endpoint
    )
}

const ALLOW_ALL: &str = "clusters = [\"MyCluster\"]\nnamespaces = [\"*\"]\nmethods = [\"*\"]\neks = [\"*\"]";

fn hostcheck_input(c: &Cloud, job: &str) -> Value {
    json!({"Cluster": {"Name": "MyCluster", "Endpoint": c.endpoint, "CertificateAuthority": c.ca},
           "Namespace": "default", "JobName": job, "EksCluster": "no-such-cluster"})
}

#[test]
fn every_host_function_answers_each_guest_language() {
    let c = cloud_with(&[], &CREDS);
    for lang in LANGUAGES {
        let job = format!("hostcheck-{lang}");
        let def = json!({"StartAt": "T", "States": {"T": wasm_task("hc")}});
        let file = format!("hostcheck-{lang}");
        let o = run_with_eks(
            &c,
            &def,
            &hostcheck_input(&c, &job),
            &[("hc", &file)],
            &kube_config(&c, ALLOW_ALL),
        );
        assert_eq!(
            ok(&o),
            json!({"stateGet": {"n": 1}, "stateRemoved": true, "callStatus": 200, "createdJob": job,
                   "readJobKind": "Job", "listPodsKind": "PodList", "podLogError": "EKS.404",
                   "eks": "EKS.ResourceNotFoundException"}),
            "{lang}: {}",
            show(&o)
        );
    }
}

fn run_with_eks(c: &Cloud, def: &Value, input: &Value, modules: &[(&str, &str)], config: &str) -> Output {
    // The EKS endpoint goes through the environment, as for the eks: resources.
    run_env(def, input, modules, config, &[], &[("AWS_ENDPOINT_URL_EKS", &c.eks)])
}

#[test]
fn a_call_outside_the_allowlist_fails_the_task_with_wasm_denied() {
    let c = cloud_with(&[], &CREDS);
    let def = json!({"StartAt": "T", "States": {"T": wasm_task("hc")}});
    let cfg = kube_config(
        &c,
        "clusters = [\"MyCluster\"]\nnamespaces = [\"jobs\"]\nmethods = [\"*\"]",
    );
    let o = run_with_eks(
        &c,
        &def,
        &hostcheck_input(&c, "denied"),
        &[("hc", "hostcheck-rust")],
        &cfg,
    );
    let (e, cause) = failed(&o);
    assert_eq!(e, "Wasm.Denied");
    assert!(cause.contains("namespace default is not in its allowlist"), "{cause}");
    // An endpoint other than the listed one never gets the cluster's token.
    let cfg = format!(
        "[clusters.MyCluster]\ntoken = \"{}\"\n[modules.hc.allow]\nendpoints = [\"https://somewhere.else\"]\n{ALLOW_ALL}\n",
        c.token
    );
    let o = run_with_eks(
        &c,
        &def,
        &hostcheck_input(&c, "denied"),
        &[("hc", "hostcheck-rust")],
        &cfg,
    );
    let (e, cause) = failed(&o);
    assert_eq!(e, "Wasm.Denied");
    assert!(
        cause.contains(&format!("the endpoint {} is not in its allowlist", c.endpoint)),
        "{cause}"
    );
}

fn run_job(c: &Cloud, state: &str, name: &str, annotations: Value) -> Value {
    json!({"Type": "Task", "Resource": "arn:aws:states:::eks:runJob.sync", "TimeoutSeconds": 60,
        "Parameters": {"ClusterName": "MyCluster", "CertificateAuthority": c.ca, "Endpoint": c.endpoint,
            "Namespace": "default",
            "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": annotations},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}}},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": format!("{state} failed")}], "End": true})
}

fn poller_config(c: &Cloud, states: &[&str]) -> String {
    let mut cfg = format!(
        "[clusters.MyCluster]\ntoken = \"{}\"\n[modules.poller.allow]\nclusters = [\"MyCluster\"]\nendpoints = [\"{}\"]\nnamespaces = [\"default\"]\n",
        c.token, c.endpoint
    );
    for s in states {
        cfg.push_str(&format!(
            "[[pollers]]\nstate_machine = \"sm\"\nstate = \"{s}\"\nmodule = \"poller\"\n"
        ));
    }
    cfg
}

#[test]
fn the_pollers_in_four_languages_drive_a_job_to_its_end_and_fail_fast_on_image_pull_back_off() {
    let c = cloud_with(&[], &CREDS);
    for lang in LANGUAGES {
        let (ok_job, stuck_job) = (format!("polled-{lang}"), format!("stuck-{lang}"));
        let branch = |state: &str, job: &str, ann: Value| {
            let mut states = serde_json::Map::new();
            states.insert(state.into(), run_job(&c, state, job, ann));
            states.insert(format!("{state} failed"), json!({"Type": "Pass", "End": true}));
            json!({"StartAt": state, "States": states})
        };
        let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            branch("Run", &ok_job, json!({"aslan.io/duration-ms": "300"})),
            branch("Stuck", &stuck_job, json!({"aslan.io/waiting-reason": "ImagePullBackOff"})),
        ]}}});
        let o = run_env(
            &def,
            &json!({}),
            &[("poller", &format!("{lang}-poller"))],
            &poller_config(&c, &["Run", "Stuck"]),
            &[],
            &[("ASLAN_LOG", "aslan::guest=info")],
        );
        let out = ok(&o);
        let job = &out[0];
        assert_eq!(job["metadata"]["name"], json!(ok_job), "{lang}: {out}");
        let conds = job["status"]["conditions"].as_array().unwrap();
        assert!(
            conds.iter().any(|c| c["type"] == "Complete" && c["status"] == "True"),
            "{lang}: {job}"
        );
        assert_eq!(out[1]["Error"], "Job.ImagePullBackOff", "{lang}: {out}");
        let cause = out[1]["Cause"].as_str().unwrap();
        assert!(
            cause.starts_with(&format!("pod {stuck_job}-")) && cause.ends_with("container main: ImagePullBackOff"),
            "{lang}: {cause}"
        );
        // Failing fast: the poller's error, not the state's 60 s States.Timeout.
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(
            log.contains(&format!("job default/{ok_job}: poll 0")),
            "{lang}: the guest's log line: {log}"
        );
    }
}

/// Creates a Job through `aslan run` (`eks:runJob`, not `.sync`).
fn create_job(c: &Cloud, name: &str, annotations: Value) {
    let mut t = run_job(c, "Create", name, annotations);
    t["Resource"] = json!("arn:aws:states:::eks:runJob");
    t.as_object_mut().unwrap().remove("Catch");
    let def = json!({"StartAt": "Create", "States": {"Create": t}});
    let cfg = format!("[clusters.MyCluster]\ntoken = \"{}\"\n", c.token);
    ok(&run(&def, &json!({}), &[], &cfg, &[]));
}

#[test]
fn the_four_pollers_decide_alike_on_the_same_jobs() {
    use aslan::wasm::bindings::types::{Context, Decision};
    use aslan::wasm::run::Caller;
    let c = cloud_with(&[], &CREDS);
    create_job(&c, "cmp-running", json!({"aslan.io/duration-ms": "600000"}));
    create_job(&c, "cmp-done", json!({"aslan.io/duration-ms": "10"}));
    create_job(&c, "cmp-stuck", json!({"aslan.io/waiting-reason": "ErrImagePull"}));
    let mut config = format!(
        "[clusters.MyCluster]\ntoken = \"{}\"\n[wasm]\ncache_dir = \"{}\"\n",
        c.token,
        guests().join("cache").display()
    );
    for lang in LANGUAGES {
        config.push_str(&format!(
            "[modules.{lang}]\npath = \"{}\"\n[modules.{lang}.allow]\nclusters = [\"MyCluster\"]\nendpoints = [\"{}\"]\nnamespaces = [\"default\"]\n",
            guest(&format!("{lang}-poller")).display(),
            c.endpoint
        ));
    }
    let config = aslan::config::EngineConfig::parse(&config).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host =
        aslan::wasm::host_with_modules(&config, &[], std::sync::Arc::new(aslan::wasm::MemoryState::default())).unwrap();
    let ctx = Context {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:sm:e1".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:sm".into(),
        state_name: "Run".into(),
        attempt: 0,
        region: "us-east-1".into(),
        account: "123456789012".into(),
        idempotency_key: "aslan-sm-0123456789abcdef01234567".into(),
    };
    let caller = Caller {
        region: "us-east-1".into(),
        origin: "test".into(),
    };
    let decide = |job: &str, state: Option<&str>| -> Vec<Decision> {
        let request = json!({"Resource": "arn:aws:states:::eks:runJob.sync",
            "Parameters": {"ClusterName": "MyCluster", "Endpoint": c.endpoint, "CertificateAuthority": c.ca},
            "Started": {"Namespace": "default", "Name": job, "Uid": "u"}});
        LANGUAGES
            .iter()
            .map(|lang| {
                let m = host.module(lang).unwrap();
                rt.block_on(host.poll(&m, &caller, ctx.clone(), request.to_string(), state.map(String::from)))
                    .unwrap_or_else(|e| panic!("{lang}: {e:?}"))
            })
            .collect()
    };
    let same = |ds: &[Decision]| {
        for (lang, d) in LANGUAGES.iter().zip(ds) {
            assert_eq!(
                format!("{d:?}"),
                format!("{:?}", ds[0]),
                "{lang} decides otherwise than rust"
            );
        }
    };
    // Running, at attempts 0 and 5: again, with the specified backoff.
    for (state, base) in [(None, 250u32), (Some("{\"attempt\":5}"), 8000)] {
        let ds = decide("cmp-running", state);
        same(&ds);
        let Decision::Again(a) = &ds[0] else {
            panic!("{:?}", ds[0])
        };
        assert!(a.after_ms >= base && a.after_ms <= base + base / 4, "{}", a.after_ms);
    }
    // Finished: done with the Job as read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ds = loop {
        let ds = decide("cmp-done", None);
        if matches!(ds[0], Decision::Done(_)) || std::time::Instant::now() > deadline {
            break ds;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    same(&ds);
    let Decision::Done(job) = &ds[0] else {
        panic!("{:?}", ds[0])
    };
    assert_eq!(
        serde_json::from_str::<Value>(job).unwrap()["metadata"]["name"],
        "cmp-done"
    );
    // Stuck pulling its image: failed fast.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ds = loop {
        let ds = decide("cmp-stuck", None);
        if matches!(ds[0], Decision::Failed(_)) || std::time::Instant::now() > deadline {
            break ds;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    same(&ds);
    let Decision::Failed(e) = &ds[0] else {
        panic!("{:?}", ds[0])
    };
    assert_eq!(e.error, "Job.ImagePullBackOff");
    assert!(e.cause.ends_with("container main: ErrImagePull"), "{}", e.cause);
    drop(rt);
}
