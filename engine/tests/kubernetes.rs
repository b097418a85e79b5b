//! `eks:call` and `eks:runJob(.sync)` end to end: `aslan run` against
//! `aslan-local-cloud`, the Kubernetes API emulator, over HTTPS with the
//! emulator's own CA and bearer token, started as its contract says (one
//! JSON line on stdout).

mod cloud;

use cloud::{cloud_with, Cloud};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

fn cloud() -> Cloud {
    cloud_with(&[], &[])
}

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("aslan-k8s-{}", uuid()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn uuid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Runs `def` with the cluster in the input as `$.cluster`, and a config
/// giving `token` for cluster `MyCluster` (none when `token` is `None`).
fn run(c: &Cloud, def: &Value, token: Option<&str>, env: &[(&str, &str)]) -> Output {
    let dir = tmp();
    let def_path = dir.join("sm.asl.json");
    std::fs::write(&def_path, def.to_string()).unwrap();
    let input = json!({"cluster": {"endpoint": c.endpoint, "certificateAuthority": c.ca}});
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aslan"));
    cmd.arg("run")
        .arg(&def_path)
        .arg("--input")
        .arg(input.to_string())
        .arg("--history");
    if let Some(t) = token {
        let cfg = dir.join("aslan.toml");
        std::fs::write(&cfg, format!("[clusters.MyCluster]\ntoken = \"{t}\"\n")).unwrap();
        cmd.arg("--config").arg(&cfg);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("aslan runs");
    let _ = std::fs::remove_dir_all(&dir);
    o
}

fn ok(o: &Output) -> Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        tail(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn err(o: &Output) -> (String, String) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        tail(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["Error"].as_str().unwrap().to_string(),
        v["Cause"].as_str().unwrap_or("").to_string(),
    )
}

fn tail(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.chars().rev().take(3000).collect::<String>().chars().rev().collect()
}

fn cluster_params() -> Value {
    json!({"ClusterName": "MyCluster", "CertificateAuthority.$": "$.cluster.certificateAuthority",
           "Endpoint.$": "$.cluster.endpoint"})
}

fn task(resource: &str, extra: Value) -> Value {
    let mut p = cluster_params();
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": p, "End": true}}})
}

fn call(extra: Value) -> Value {
    task("arn:aws:states:::eks:call", extra)
}

/// A Job whose containers the emulator simulates: `(name, log, exit code)`.
fn job(name: &str, containers: &[(&str, &str, i32)], annotations: Value) -> Value {
    let mut ann = annotations.as_object().cloned().unwrap_or_default();
    for (c, log, code) in containers {
        ann.insert(format!("aslan.io/log.{c}"), json!(log));
        ann.insert(format!("aslan.io/exit-code.{c}"), json!(code.to_string()));
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": ann},
             "spec": {"restartPolicy": "Never", "containers":
               containers.iter().map(|(c, _, _)| json!({"name": c, "image": "busybox"})).collect::<Vec<_>>()}}}})
}

fn history(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn eks_call_creates_reads_and_lists_with_step_functions_result_shapes() {
    let c = cloud();
    let tok = Some(c.token.as_str());
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "labels": {"app": "x"}},
                    "data": {"k": "v"}});
    let created = ok(&run(
        &c,
        &call(json!({"Method": "POST", "Path": "/api/v1/namespaces/default/configmaps", "RequestBody": cm})),
        tok,
        &[],
    ));
    assert_eq!(created["StatusCode"], 201);
    assert_eq!(created["StatusText"], "Created");
    assert_eq!(created["ResponseBody"]["kind"], "ConfigMap");
    assert_eq!(created["ResponseBody"]["data"]["k"], "v");
    assert_eq!(created["Headers"]["Content-Type"][0], "application/json");
    // QueryParameters: a label selector.
    let listed = ok(&run(
        &c,
        &call(json!({"Method": "GET", "Path": "/api/v1/namespaces/default/configmaps",
                     "QueryParameters": {"labelSelector": ["app=x"]}})),
        tok,
        &[],
    ));
    assert_eq!(listed["StatusCode"], 200);
    assert_eq!(listed["ResponseBody"]["kind"], "ConfigMapList");
    let names: Vec<&str> = listed["ResponseBody"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["settings"]);
    // PATCH with a JSON object is a merge patch; a string body is sent as is.
    let patched = ok(&run(
        &c,
        &call(
            json!({"Method": "PATCH", "Path": "/api/v1/namespaces/default/configmaps/settings",
                     "RequestBody": {"data": {"k2": "v2"}}}),
        ),
        tok,
        &[],
    ));
    assert_eq!(patched["ResponseBody"]["data"], json!({"k": "v", "k2": "v2"}));
    let put = ok(&run(
        &c,
        &call(
            json!({"Method": "POST", "Path": "/api/v1/namespaces/default/configmaps",
                     "RequestBody": "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"s2\"}}"}),
        ),
        tok,
        &[],
    ));
    assert_eq!(put["StatusCode"], 201);
    let deleted = ok(&run(
        &c,
        &call(json!({"Method": "DELETE", "Path": "/api/v1/namespaces/default/configmaps/settings"})),
        tok,
        &[],
    ));
    assert_eq!(deleted["StatusCode"], 200);
}

#[test]
fn eks_call_failures_are_eks_status_errors_in_the_seed_shape() {
    let c = cloud();
    // 404
    let (e, cause) = err(&run(
        &c,
        &call(json!({"Method": "GET", "Path": "/apis/batch/v1/namespaces/default/jobs/nope"})),
        Some(&c.token),
        &[],
    ));
    assert_eq!(e, "EKS.404");
    let cause: Value = serde_json::from_str(&cause).unwrap();
    assert_eq!(cause["StatusCode"], 404);
    assert_eq!(cause["StatusText"], "Not Found");
    assert_eq!(cause["ResponseBody"]["reason"], "NotFound");
    assert_eq!(cause["ResponseBody"]["message"], "jobs.batch \"nope\" not found");
    // 409
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"}});
    let def = call(json!({"Method": "POST", "Path": "/api/v1/namespaces/default/configmaps", "RequestBody": cm}));
    ok(&run(&c, &def, Some(&c.token), &[]));
    let (e, _) = err(&run(&c, &def, Some(&c.token), &[]));
    assert_eq!(e, "EKS.409");
    // A bad token: 401, exactly the seed's error.
    let o = run(
        &c,
        &call(json!({"Method": "GET", "Path": "/api/v1/namespaces"})),
        Some("not-the-token"),
        &[],
    );
    let (e, cause) = err(&o);
    assert_eq!(e, "EKS.401");
    assert_eq!(
        serde_json::from_str::<Value>(&cause).unwrap(),
        json!({"ResponseBody": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401},
               "StatusCode": 401, "StatusText": "Unauthorized"})
    );
    // The token is in neither the output nor the history nor the log.
    assert!(!String::from_utf8_lossy(&o.stdout).contains("not-the-token"));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("not-the-token"));
    // Retry and Catch see the EKS error name.
    let mut def = call(json!({"Method": "GET", "Path": "/api/v1/namespaces/default/configmaps/absent"}));
    def["States"]["T"]["Catch"] = json!([{"ErrorEquals": ["EKS.404"], "Next": "Missing"}]);
    def["States"]["Missing"] = json!({"Type": "Pass", "Result": "caught", "End": true});
    assert_eq!(ok(&run(&c, &def, Some(&c.token), &[])), json!("caught"));
}

#[test]
fn a_server_not_signed_by_the_given_ca_is_refused() {
    let a = cloud();
    let b = cloud();
    // B's endpoint with A's CA.
    let wrong = Cloud {
        child: Command::new("true").spawn().unwrap(),
        endpoint: b.endpoint.clone(),
        ca: a.ca.clone(),
        token: b.token.clone(),
        eks: String::new(),
    };
    let o = run(
        &wrong,
        &call(json!({"Method": "GET", "Path": "/api/v1/namespaces"})),
        Some(&b.token),
        &[],
    );
    let (e, cause) = err(&o);
    assert_eq!(e, "States.TaskFailed");
    assert!(
        cause.contains("certificate") || cause.contains("Certificate"),
        "{cause}"
    );
    assert!(!cause.contains(&b.token));
}

#[test]
fn run_job_returns_the_created_job_labelled_with_the_idempotency_key() {
    let c = cloud();
    let out = ok(&run(
        &c,
        &task(
            "arn:aws:states:::eks:runJob",
            json!({"Job": job("rr-job", &[("main", "hi", 0)], json!({}))}),
        ),
        Some(&c.token),
        &[],
    ));
    assert_eq!(out["kind"], "Job");
    assert_eq!(out["metadata"]["name"], "rr-job");
    let key = out["metadata"]["labels"]["aslan.io/idempotency-key"].as_str().unwrap();
    assert!(key.starts_with("aslan-sm-") && key.len() <= 63, "{key}");
    assert!(out["metadata"]["uid"].is_string());
}

#[test]
fn run_job_sync_waits_and_returns_the_job_with_parsed_and_raw_logs() {
    let c = cloud();
    let containers = [("json", "{\"answer\": 42}", 0), ("text", "line one\nline two\n", 0)];
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Namespace": "default", "Job": job("logs-job", &containers, json!({})),
               "LogOptions": {"RetrieveLogs": true}}),
    );
    let o = run(&c, &def, Some(&c.token), &[]);
    let out = ok(&o);
    let conds: Vec<&str> = out["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert!(conds.contains(&"Complete"), "{conds:?}");
    assert_eq!(out["status"]["succeeded"], 1);
    let pods = out["logs"]["pods"].as_object().unwrap();
    assert_eq!(pods.len(), 1);
    let (pod, p) = pods.iter().next().unwrap();
    assert!(pod.starts_with("logs-job-"), "{pod}");
    // JSON logs are parsed, other text stays text.
    assert_eq!(p["containers"]["json"]["log"], json!({"answer": 42}));
    assert_eq!(p["containers"]["text"]["log"], "line one\nline two\n");
    // TaskStarted comes when the Job exists, then TaskSucceeded.
    let kinds: Vec<String> = history(&o)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    let i = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} missing: {kinds:?}"))
    };
    assert!(i("TaskScheduled") < i("TaskStarted") && i("TaskStarted") < i("TaskSucceeded"));

    // RawLogs keeps JSON as a string; LogParameters go to the log request.
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("raw-job", &[("c", "{\"a\": 1}\nsecond\nthird\n", 0)], json!({})),
               "LogOptions": {"RetrieveLogs": true, "RawLogs": true, "LogParameters": {"tailLines": ["1"]}}}),
    );
    let out = ok(&run(&c, &def, Some(&c.token), &[]));
    let pod = out["logs"]["pods"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(pod["containers"]["c"]["log"], "third\n");
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("raw-job2", &[("c", "{\"a\": 1}", 0)], json!({})),
               "LogOptions": {"RetrieveLogs": true, "RawLogs": true}}),
    );
    let out = ok(&run(&c, &def, Some(&c.token), &[]));
    let pod = out["logs"]["pods"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    // The emulator ends a log with a newline, as a container's output does.
    assert_eq!(pod["containers"]["c"]["log"], "{\"a\": 1}\n");
    // Without LogOptions there are no logs.
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("nologs", &[("c", "x", 0)], json!({}))}),
    );
    let out = ok(&run(&c, &def, Some(&c.token), &[]));
    assert!(out.get("logs").is_none());
}

#[test]
fn a_failed_job_fails_the_task_with_its_status() {
    let c = cloud();
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("bad-job", &[("c", "boom", 3)], json!({}))}),
    );
    let (e, cause) = err(&run(&c, &def, Some(&c.token), &[]));
    assert_eq!(e, "EKS.JobFailed");
    let status: Value = serde_json::from_str(&cause).unwrap();
    assert_eq!(status["failed"], 1);
    assert!(status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Failed" && c["reason"] == "BackoffLimitExceeded"));
}

#[test]
fn a_huge_log_exceeds_the_data_limit_unless_trimmed_with_limit_bytes() {
    let c = cloud();
    let ann = json!({"aslan.io/log-repeat": "40000"});
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("huge", &[("c", "0123456789\n", 0)], ann.clone()),
               "LogOptions": {"RetrieveLogs": true}}),
    );
    let (e, _) = err(&run(&c, &def, Some(&c.token), &[]));
    assert_eq!(e, "States.DataLimitExceeded");
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("trimmed", &[("c", "0123456789\n", 0)], ann),
               "LogOptions": {"RetrieveLogs": true, "LogParameters": {"limitBytes": ["1000"]}}}),
    );
    let out = ok(&run(&c, &def, Some(&c.token), &[]));
    let pod = out["logs"]["pods"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(pod["containers"]["c"]["log"].as_str().unwrap().len(), 1000);
}

#[test]
fn bad_parameters_fail_validation_or_the_task_as_step_functions_does() {
    let c = cloud();
    // Unknown field written literally: the definition is invalid, with the location.
    let dir = tmp();
    let p = dir.join("bad.asl.json");
    std::fs::write(&p, call(json!({"Method": "GET", "Path": "/", "Bogus": 1})).to_string()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aslan"))
        .args(["validate", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err_text = String::from_utf8_lossy(&o.stderr);
    assert!(
        err_text.contains("/States/T/Parameters") && err_text.contains("\"Bogus\" is not supported"),
        "{err_text}"
    );
    // A value only known at run time: States.Runtime naming the problem.
    let mut def = call(json!({"Path": "/api/v1/namespaces"}));
    def["States"]["T"]["Parameters"]["Method.$"] = json!("$.cluster.endpoint");
    let (e, cause) = err(&run(&c, &def, Some(&c.token), &[]));
    assert_eq!(e, "States.Runtime");
    assert!(cause.contains("\"Method\" must be one of"), "{cause}");
    // eks:call has no .sync.
    std::fs::write(
        &p,
        task("arn:aws:states:::eks:call.sync", json!({"Method": "GET", "Path": "/"})).to_string(),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aslan"))
        .args(["validate", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn an_eks_token_from_the_aws_credential_chain_is_accepted() {
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDASLANTEST"),
        ("AWS_SECRET_ACCESS_KEY", "aslan/test/secret/key"),
        ("AWS_REGION", "us-east-1"),
    ];
    let c = cloud_with(&["--eks-cluster", "MyCluster"], &creds);
    // No configured token: the engine signs an EKS token with the chain's keys.
    let out = ok(&run(
        &c,
        &call(json!({"Method": "GET", "Path": "/api/v1/namespaces"})),
        None,
        &creds,
    ));
    assert_eq!(out["StatusCode"], 200);
    // Other keys: refused.
    let wrong = [
        ("AWS_ACCESS_KEY_ID", "AKIDASLANTEST"),
        ("AWS_SECRET_ACCESS_KEY", "another-secret"),
        ("AWS_REGION", "us-east-1"),
    ];
    let (e, _) = err(&run(
        &c,
        &call(json!({"Method": "GET", "Path": "/api/v1/namespaces"})),
        None,
        &wrong,
    ));
    assert_eq!(e, "EKS.401");
}

#[test]
fn when_the_cluster_refuses_watches_run_job_sync_polls_with_backoff() {
    let c = cloud_with(&["--refuse-watch"], &[]);
    // The refusal is real: a watch gets 403.
    let (e, cause) = err(&run(
        &c,
        &call(
            json!({"Method": "GET", "Path": "/apis/batch/v1/namespaces/default/jobs",
                     "QueryParameters": {"watch": ["1"]}}),
        ),
        Some(&c.token),
        &[],
    ));
    assert_eq!(e, "EKS.403", "{cause}");
    // The Job runs 1.5 s: the first read sees it running, the watch is
    // refused, and reads after 1 s and 2 s find it Complete.
    let def = task(
        "arn:aws:states:::eks:runJob.sync",
        json!({"Job": job("polled", &[("c", "{\"ok\": true}", 0)], json!({"aslan.io/duration-ms": "1500"})),
               "LogOptions": {"RetrieveLogs": true}}),
    );
    let t = std::time::Instant::now();
    let out = ok(&run(&c, &def, Some(&c.token), &[]));
    let took = t.elapsed();
    assert!(out["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Complete"));
    let pod = out["logs"]["pods"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(pod["containers"]["c"]["log"], json!({"ok": true}));
    // Backoff, not a busy loop and not a minute: 1 s then 2 s after the start.
    assert!(
        took >= std::time::Duration::from_millis(1500) && took < std::time::Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn a_kubeconfig_context_can_give_the_credentials() {
    let c = cloud();
    let dir = tmp();
    // A kubeconfig whose context's user holds the emulator's token; its
    // cluster entry points elsewhere: the Task's Endpoint and CA win.
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: elsewhere\n  cluster:\n    server: https://192.0.2.1:6443\ncontexts:\n- name: emu\n  context:\n    cluster: elsewhere\n    user: emu-user\n- name: other\n  context:\n    cluster: elsewhere\n    user: nobody\ncurrent-context: other\nusers:\n- name: emu-user\n  user:\n    token: {}\n- name: nobody\n  user:\n    token: wrong\n",
        c.token
    );
    std::fs::write(dir.join("kubeconfig.yaml"), kc).unwrap();
    let def_path = dir.join("sm.asl.json");
    std::fs::write(
        &def_path,
        call(json!({"Method": "GET", "Path": "/api/v1/namespaces"})).to_string(),
    )
    .unwrap();
    let input = json!({"cluster": {"endpoint": c.endpoint, "certificateAuthority": c.ca}}).to_string();
    let run_with = |context: &str| {
        // A relative kubeconfig path is relative to the configuration file.
        std::fs::write(
            dir.join("aslan.toml"),
            format!("[clusters.MyCluster]\nkubeconfig = \"kubeconfig.yaml\"\ncontext = \"{context}\"\n"),
        )
        .unwrap();
        Command::new(env!("CARGO_BIN_EXE_aslan"))
            .arg("run")
            .arg(&def_path)
            .arg("--input")
            .arg(&input)
            .arg("--config")
            .arg(dir.join("aslan.toml"))
            .output()
            .unwrap()
    };
    assert_eq!(ok(&run_with("emu"))["StatusCode"], 200);
    assert_eq!(err(&run_with("other")).0, "EKS.401");
    let _ = std::fs::remove_dir_all(&dir);
}
