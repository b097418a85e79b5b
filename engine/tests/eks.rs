//! The EKS resources through `aslan run` against `aslan-local-cloud`'s EKS
//! API, whose resources go through CREATING and DELETING (moto, used by
//! `tests/api/test_eks.py`, makes them ACTIVE at once), with SigV4 checked
//! by the emulator, and AWS's "Manage an Amazon EKS cluster" sample end to
//! end.

mod cloud;

use cloud::{cloud_with, Cloud};
use serde_json::{json, Value};
use std::process::{Command, Output};

const CREDS: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "AKIDASLANEKSTEST"),
    ("AWS_SECRET_ACCESS_KEY", "aslan/eks/test/secret"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

fn cloud(create_ms: u64) -> Cloud {
    let c = create_ms.to_string();
    cloud_with(
        &["--eks-create-ms", &c, "--eks-delete-ms", &c, "--run-processes"],
        &CREDS,
    )
}

fn run(c: &Cloud, def: &Value, execution: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("aslan-eks-{}-{execution}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("eks.asl.json");
    std::fs::write(&p, def.to_string()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aslan"));
    cmd.arg("run")
        .arg(&p)
        .args(["--execution-name", execution, "--history"])
        .envs(CREDS)
        .env("AWS_ENDPOINT_URL_EKS", &c.eks);
    let o = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    o
}

fn out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn task(resource: &str, params: Value) -> Value {
    json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": format!("arn:aws:states:::eks:{resource}"),
        "Parameters": params, "End": true}}})
}

fn cluster(name: &str) -> Value {
    json!({"Name": name, "RoleArn": "arn:aws:iam::123456789012:role/EKSRole",
           "ResourcesVpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"]}})
}

fn events(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn create_cluster_sync_waits_through_creating_and_delete_sync_until_gone() {
    let c = cloud(1500);
    let o = run(&c, &task("createCluster.sync", cluster("slow")), "create");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v = out(&o);
    assert_eq!(v["Cluster"]["Status"], "ACTIVE");
    // The cluster is the emulator's Kubernetes API.
    assert_eq!(v["Cluster"]["Endpoint"], json!(c.endpoint));
    assert_eq!(v["Cluster"]["CertificateAuthority"]["Data"], json!(c.ca));
    // It waited: TaskStarted (created, CREATING) well before TaskSucceeded.
    let ev = events(&o);
    let ts = |t: &str| {
        ev.iter()
            .find(|e| e["type"] == t)
            .and_then(|e| e["timestamp"].as_f64())
            .unwrap_or_else(|| panic!("no {t}"))
    };
    assert!(ts("TaskSucceeded") - ts("TaskStarted") >= 1.0, "{ev:?}");
    // Run again as the same execution: the same clientRequestToken, so EKS
    // answers with the cluster instead of ResourceInUseException.
    let again = run(&c, &task("createCluster", cluster("slow")), "create");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    // Another execution is refused.
    let other = run(&c, &task("createCluster", cluster("slow")), "other");
    assert_eq!(out(&other)["Error"], "EKS.ResourceInUseException");
    let o = run(&c, &task("deleteCluster.sync", json!({"Name": "slow"})), "delete");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(out(&o)["Cluster"]["Status"], "DELETING");
    let gone = run(&c, &task("deleteCluster", json!({"Name": "slow"})), "gone");
    assert_eq!(out(&gone)["Error"], "EKS.ResourceNotFoundException");
}

#[test]
fn a_failed_creation_fails_the_task_with_its_health_issues() {
    let c = cloud(200);
    let mut p = cluster("doomed");
    p["Tags"] = json!({"aslan.io/fail": "true"});
    let o = run(&c, &task("createCluster.sync", p), "fail");
    assert_eq!(o.status.code(), Some(1));
    let v = out(&o);
    assert_eq!(v["Error"], "States.TaskFailed");
    let cause: Value = serde_json::from_str(v["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["Status"], "FAILED");
    assert!(!cause["Health"]["Issues"].as_array().unwrap().is_empty(), "{cause}");
    // A node group on a cluster that is not ACTIVE: EKS.InvalidRequestException.
    let o = run(&c, &task("createCluster", cluster("young")), "young");
    assert_eq!(o.status.code(), Some(0));
    let o = run(
        &c,
        &task(
            "createNodegroup",
            json!({"ClusterName": "young", "NodegroupName": "ng", "NodeRole": "arn:aws:iam::123456789012:role/Node", "Subnets": ["subnet-1"]}),
        ),
        "ng",
    );
    assert_eq!(
        out(&o)["Error"],
        "EKS.InvalidRequestException",
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn the_manage_an_eks_cluster_sample_runs_end_to_end_offline() {
    let c = cloud(300);
    let def: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/eks-cluster/manage-eks-cluster.asl.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let o = run(&c, &def, "sample");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(out(&o), json!("pi as expected"));
    // Everything it made is gone again.
    let listed: Vec<String> = events(&o)
        .iter()
        .filter(|e| e["type"] == "TaskSucceeded")
        .map(|e| {
            e["taskSucceededEventDetails"]["resource"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            "createCluster.sync",
            "createNodegroup.sync",
            "runJob.sync",
            "call",
            "deleteNodegroup.sync",
            "deleteCluster.sync"
        ]
    );
}
