//! The `aslan` CLI contract: exit codes, stdout/stderr shapes, mocks, history.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

fn aslan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aslan"))
        .args(args)
        .output()
        .expect("aslan runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn example(p: &str) -> String {
    root().join("examples").join(p).to_string_lossy().into_owned()
}

fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn write_temp(name: &str, v: &Value) -> String {
    let dir = std::env::temp_dir().join(format!("aslan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn run_succeeds_with_output_on_stdout() {
    let o = aslan(&[
        "run",
        &example("hello-world.asl.json"),
        "--input",
        r#"{"people":["Ada","Grace"]}"#,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = stdout_json(&o);
    assert_eq!(v["count"], 2);
    assert_eq!(v["verdict"], "Cosy.");
    assert_eq!(v["greetings"][1], "Hello, Grace! You are number 2.");
}

#[test]
fn run_failure_prints_error_and_cause_and_exits_1() {
    let def = write_temp(
        "fail.json",
        &json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "on purpose"}}}),
    );
    let o = aslan(&["run", &def]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout_json(&o), json!({"Error": "Oops", "Cause": "on purpose"}));
}

#[test]
fn invalid_definition_and_bad_arguments_exit_2() {
    let o = aslan(&["run", &example("invalid.asl.json")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/States/Start/Next") && err.contains("MISSING_TRANSITION_TARGET"),
        "{err}"
    );

    let o = aslan(&["run", &example("hello-world.asl.json"), "--input", "{not json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not valid JSON"));

    let o = aslan(&["run", &example("hello-world.asl.json"), "--mock-config", "x.json"]);
    assert_eq!(o.status.code(), Some(2), "--mock-config needs --test-case");

    let o = aslan(&["run", "/nonexistent/def.json"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn validate_lists_every_problem() {
    let o = aslan(&["validate", &example("invalid.asl.json"), "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v = stdout_json(&o);
    let locs: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["location"].as_str().unwrap())
        .collect();
    for want in [
        "/States/Start/Next",
        "/States/Orphan/Seconds",
        "/States/Pick/ResultPath",
        "/States/Pick/Choices/0/NumericEquals",
        "/States/Orphan",
    ] {
        assert!(locs.contains(&want), "{want} missing from {locs:?}");
    }
    let o = aslan(&["validate", &example("hello-world.asl.json")]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn mock_config_drives_retry_and_catch() {
    let args = |case: &str| {
        aslan(&[
            "run",
            &example("order-pipeline/order-pipeline.asl.json"),
            "--input-file",
            &example("order-pipeline/input.json"),
            "--mock-config",
            &example("order-pipeline/mock-config.json"),
            "--test-case",
            case,
            "--clock",
            "simulated",
            "--history",
        ])
    };
    let o = args("HappyPath");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = stdout_json(&o);
    assert_eq!(v["charge"]["chargeId"], "ch_42");
    assert_eq!(
        v["fulfilment"],
        json!({"tracking": "TRK-7", "message": "Order A-1001 is on its way"})
    );
    let events: Vec<Value> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).expect("history line is JSON"))
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "TaskFailed").count(),
        2,
        "two failed charges before success"
    );
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    assert!(types.contains(&"ParallelStateStarted"));
    // Retries waited 2 s then 4 s of simulated time.
    let ts: Vec<f64> = events
        .iter()
        .filter(|e| e["type"] == "TaskScheduled")
        .map(|e| e["timestamp"].as_f64().unwrap())
        .collect();
    assert!(
        (ts[1] - ts[0] - 2.0).abs() < 0.01 && (ts[2] - ts[1] - 4.0).abs() < 0.01,
        "{ts:?}"
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["id"], json!(i + 1));
    }

    let o = args("Declined");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout_json(&o),
        json!({"Error": "Payments.Declined", "Cause": "insufficient funds"})
    );
}

#[test]
fn machine_name_comes_from_name_flag_or_file_stem() {
    let o = aslan(&[
        "run",
        &example("order-pipeline/order-pipeline.asl.json"),
        "--mock-config",
        &example("order-pipeline/mock-config.json"),
        "--test-case",
        "Declined",
        "--name",
        "not-in-config",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'not-in-config'"));
}

#[test]
fn unsupported_resource_fails_with_states_runtime() {
    let def = write_temp(
        "task.json",
        &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]}, "H": {"Type": "Succeed"}}}),
    );
    let o = aslan(&["run", &def]);
    assert_eq!(o.status.code(), Some(1));
    let v = stdout_json(&o);
    assert_eq!(v["Error"], "States.Runtime");
    assert!(v["Cause"]
        .as_str()
        .unwrap()
        .contains("arn:aws:states:::sqs:sendMessage"));
}

#[test]
fn long_waits_take_no_time_on_the_simulated_clock() {
    let def = write_temp(
        "year.json",
        &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 31_536_000, "End": true}}}),
    );
    let o = aslan(&["run", &def, "--input", "[1]", "--clock", "simulated"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout_json(&o), json!([1]));
}

#[test]
fn waits_really_wait_on_the_real_clock() {
    let def = write_temp(
        "second.json",
        &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}),
    );
    let t = std::time::Instant::now();
    let o = aslan(&["run", &def]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(990),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn run_explains_callbacks_it_cannot_serve_and_validate_checks_patterns() {
    let def = write_temp(
        "callback.json",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Task",
            "Resource": "arn:aws:states:us-east-1:123456789012:activity:work", "End": true}}}),
    );
    let o = aslan(&["run", &def, "--clock", "simulated"]);
    assert_eq!(o.status.code(), Some(1));
    let v = stdout_json(&o);
    assert_eq!(v["Error"], "States.Runtime");
    assert!(v["Cause"].as_str().unwrap().contains("aslan serve"), "{v}");
    // A TimeoutSeconds still ends the wait, with the usual error.
    let def = write_temp(
        "callback-timeout.json",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "TimeoutSeconds": 30, "End": true}}}),
    );
    let o = aslan(&["run", &def, "--clock", "simulated"]);
    assert_eq!(stdout_json(&o)["Error"], "States.Timeout");
    // A pattern the integration does not support is a validation error.
    let bad = write_temp(
        "bad-pattern.json",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.sync", "End": true}}}),
    );
    let o = aslan(&["validate", &bad]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/States/A/Resource") && err.contains(".sync"), "{err}");
}

#[test]
fn two_runs_with_the_same_execution_name_draw_different_random_numbers() {
    let def = write_temp(
        "uuid.json",
        &json!({"StartAt": "U", "States": {"U": {"Type": "Pass",
            "Parameters": {"u.$": "States.UUID()", "r.$": "States.MathRandom(0, 1000000000)"}, "End": true}}}),
    );
    let run = || stdout_json(&aslan(&["run", &def, "--execution-name", "same"]));
    let (a, b) = (run(), run());
    assert_ne!(a["u"], b["u"], "{a} {b}");
    assert_ne!(a["r"], b["r"], "{a} {b}");
}

#[test]
#[cfg(feature = "eks")]
fn policy_prints_the_iam_policy_and_rbac_rules_of_the_eks_sample() {
    let def = example("eks-cluster/manage-eks-cluster.asl.json");
    let o = aslan(&["policy", &def, "--region", "us-east-1", "--account", "123456789012"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let p = stdout_json(&o);
    assert_eq!(p["Version"], "2012-10-17");
    let st = p["Statement"].as_array().unwrap();
    let actions: Vec<&str> = st
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in [
        "eks:CreateCluster",
        "eks:DescribeCluster",
        "eks:CreateNodegroup",
        "eks:DescribeNodegroup",
        "eks:DeleteNodegroup",
        "eks:DeleteCluster",
        "iam:PassRole",
    ] {
        assert!(actions.contains(&a), "{a} missing: {actions:?}");
    }
    assert!(actions.iter().all(|a| !a.contains('*')));
    assert!(st
        .iter()
        .any(|s| s["Resource"] == "arn:aws:eks:us-east-1:123456789012:cluster/ExampleCluster"));
    let o = aslan(&["policy", &def, "--rbac"]);
    assert_eq!(o.status.code(), Some(0));
    let r = stdout_json(&o);
    assert_eq!(r[0]["cluster"], "ExampleCluster");
    assert_eq!(r[0]["namespace"], "default");
    let rules = r[0]["rules"].as_array().unwrap();
    assert!(rules.contains(
        &json!({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["delete"], "resourceNames": ["example-job"]})
    ));
    assert!(rules.contains(&json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})));
}
