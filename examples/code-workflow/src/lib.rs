//! AWS's "Manage an Amazon EKS cluster" sample
//! (`examples/eks-cluster/manage-eks-cluster.asl.json`) as a code
//! workflow: create a cluster and a node group, run the pi Job, check its
//! digits, and delete the Job, the node group and the cluster, whatever
//! happened before. Each wait is this workflow's own poller: a durable
//! sleep with exponential backoff and jitter (from the journaled
//! `random-u64`), so a restart of the engine resumes it where it was.
//!
//! Input (every field optional): `{"ClusterName", "NodegroupName",
//! "RoleArn", "NodeRole", "Subnets"}`. Output: `"pi as expected"` or
//! `"unexpected output"`.

use aslan_guest::workflow::{self, Workflow};
use aslan_guest::{eks, json, kubernetes, log, Cluster, TaskError, Value};

struct ManageCluster;

/// The wait before poll number `n` (from 0): 1 s doubling up to 30 s, plus
/// up to a quarter of it from `random`.
pub fn backoff_ms(n: u32, random: u64) -> u64 {
    let base = (1_000u64 << n.min(5)).min(30_000);
    base + random % (base / 4 + 1)
}

/// Polls `read` until `done` says so, sleeping [`backoff_ms`] between
/// polls; fails when `failed` returns a reason.
fn wait_for(
    what: &str,
    mut read: impl FnMut() -> Result<Value, TaskError>,
    done: impl Fn(&Value) -> bool,
    failed: impl Fn(&Value) -> Option<String>,
) -> Result<Value, TaskError> {
    for n in 0.. {
        let v = read()?;
        if done(&v) {
            log::info(&format!("{what}: done after {n} poll(s)"));
            return Ok(v);
        }
        if let Some(reason) = failed(&v) {
            return Err(TaskError::new("EKS.Failed", format!("{what}: {reason}")));
        }
        workflow::sleep_ms(backoff_ms(n, workflow::random_u64()));
    }
    unreachable!()
}

fn status(v: &Value, kind: &str) -> String {
    v[kind]["Status"].as_str().unwrap_or_default().to_string()
}

fn gone(r: Result<Value, TaskError>) -> Result<Value, TaskError> {
    match r {
        Err(e) if e.error == "EKS.ResourceNotFoundException" => Ok(json!({"Gone": true})),
        other => other,
    }
}

struct Names {
    cluster: String,
    nodegroup: String,
}

fn create(input: &Value, n: &Names) -> Result<Cluster, TaskError> {
    let s = |k: &str, d: &str| input[k].as_str().unwrap_or(d).to_string();
    let subnets = input
        .get("Subnets")
        .cloned()
        .unwrap_or(json!(["subnet-053e7c47012341234", "subnet-027cfea4b12341234"]));
    eks::call(
        eks::Operation::CreateCluster,
        &json!({"Name": n.cluster, "ResourcesVpcConfig": {"SubnetIds": subnets},
                "RoleArn": s("RoleArn", "arn:aws:iam::123456789012:role/StepFunctionsSample-EKSClusterManag-EKSServiceRole")}),
    )?;
    let c = wait_for(
        "cluster",
        || eks::call(eks::Operation::DescribeCluster, &json!({"Name": n.cluster})),
        |v| status(v, "Cluster") == "ACTIVE",
        |v| (status(v, "Cluster") == "FAILED").then(|| "the cluster FAILED".to_string()),
    )?;
    eks::call(
        eks::Operation::CreateNodegroup,
        &json!({"ClusterName": n.cluster, "NodegroupName": n.nodegroup, "Subnets": subnets,
                "NodeRole": s("NodeRole", "arn:aws:iam::123456789012:role/StepFunctionsSample-EKSClusterMan-NodeInstanceRole")}),
    )?;
    wait_for(
        "node group",
        || {
            eks::call(
                eks::Operation::DescribeNodegroup,
                &json!({"ClusterName": n.cluster, "NodegroupName": n.nodegroup}),
            )
        },
        |v| status(v, "Nodegroup") == "ACTIVE",
        |v| matches!(status(v, "Nodegroup").as_str(), "CREATE_FAILED" | "DEGRADED").then(|| status(v, "Nodegroup")),
    )?;
    let cl = &c["Cluster"];
    Ok(Cluster::new(
        n.cluster.clone(),
        cl["Endpoint"].as_str().unwrap_or_default(),
        cl["CertificateAuthority"]["Data"].as_str().unwrap_or_default(),
    ))
}

/// Runs the pi Job and reads its log.
fn run_job(cluster: &Cluster) -> Result<String, TaskError> {
    let job = json!({"metadata": {"name": "example-job"}, "spec": {"backoffLimit": 0, "template": {
        "metadata": {"name": "example-job"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "pi-2000", "image": "perl",
            "command": ["perl"], "args": ["-Mbignum=bpi", "-wle", "print bpi(2000)"]}]}}}});
    kubernetes::create_job(cluster, "default", &job)?;
    wait_for(
        "job",
        || kubernetes::read_job(cluster, "default", "example-job").map(|j| j.into_value()),
        |v| aslan_guest::Job::from_value(v.clone()).is_complete(),
        |v| aslan_guest::Job::from_value(v.clone()).failed_reason().map(str::to_string),
    )?;
    let pods = kubernetes::job_pods(cluster, "default", "example-job")?;
    let pod = pods
        .pods()
        .find_map(|p| p["metadata"]["name"].as_str())
        .map(str::to_string)
        .ok_or_else(|| TaskError::new("EKS.NoPod", "the Job has no pod"))?;
    kubernetes::read_pod_log(cluster, "default", &pod, Some("pi-2000"), None)
}

/// Deletes what `create` made, waiting until it is gone.
fn clean_up(cluster: Option<&Cluster>, n: &Names) -> Result<(), TaskError> {
    if let Some(c) = cluster {
        let req = kubernetes::Request::new("DELETE", "/apis/batch/v1/namespaces/default/jobs/example-job")
            .query("propagationPolicy", "Foreground");
        match kubernetes::call(c, &req) {
            Err(e) if e.error != "EKS.404" => return Err(e),
            _ => {}
        }
    }
    let ng = json!({"ClusterName": n.cluster, "NodegroupName": n.nodegroup});
    if gone(eks::call(eks::Operation::DeleteNodegroup, &ng))?.get("Gone").is_none() {
        wait_for(
            "node group deletion",
            || gone(eks::call(eks::Operation::DescribeNodegroup, &ng)),
            |v| v.get("Gone").is_some(),
            |_| None,
        )?;
    }
    let cl = json!({"Name": n.cluster});
    if gone(eks::call(eks::Operation::DeleteCluster, &cl))?.get("Gone").is_none() {
        wait_for(
            "cluster deletion",
            || gone(eks::call(eks::Operation::DescribeCluster, &cl)),
            |v| v.get("Gone").is_some(),
            |_| None,
        )?;
    }
    Ok(())
}

impl Workflow for ManageCluster {
    fn run(input: Value) -> Result<Value, TaskError> {
        let n = Names {
            cluster: input["ClusterName"].as_str().unwrap_or("ExampleCluster").to_string(),
            nodegroup: input["NodegroupName"].as_str().unwrap_or("ExampleNodegroup").to_string(),
        };
        let made = create(&input, &n);
        let verdict = match &made {
            Ok(c) => run_job(c).map(|log| {
                if log.trim_start().starts_with("3.14159265358979323846") {
                    "pi as expected"
                } else {
                    "unexpected output"
                }
            }),
            Err(e) => Err(e.clone()),
        };
        // Clean up on success and on failure; a failure to clean up is
        // reported unless the work had already failed.
        let cleaned = clean_up(made.as_ref().ok(), &n);
        let verdict = verdict?;
        cleaned?;
        Ok(json!(verdict))
    }
}

aslan_guest::export_workflow!(ManageCluster);

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_to_thirty_seconds_with_a_quarter_of_jitter() {
        assert_eq!(backoff_ms(0, 0), 1_000);
        assert_eq!(backoff_ms(1, 0), 2_000);
        assert_eq!(backoff_ms(4, 0), 16_000);
        assert_eq!(backoff_ms(5, 0), 30_000);
        assert_eq!(backoff_ms(40, 0), 30_000);
        assert_eq!(backoff_ms(0, 250), 1_250);
        assert_eq!(backoff_ms(0, 251), 1_000);
        assert!((0..1000).all(|r| backoff_ms(5, r) <= 37_500));
    }
}
