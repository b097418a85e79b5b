//! Cleaning up after an execution: AWS's page on the EKS integration warns
//! that a stopped execution leaves its clusters running (and billing).
//!
//! The execution's history is the record of what it created: a
//! `TaskScheduled` event of `eks:createCluster`, `createNodegroup` or
//! `createFargateProfile` whose task then started or succeeded (the create
//! call was accepted), not followed by a delete of the same resource that
//! was accepted. [`leftovers`] reads that from the history;
//! [`clean_up`] deletes them in dependency order: node groups and Fargate
//! profiles first, waits until they are gone, then the clusters.

use super::api::{EksApi, Op, Target};
use super::members;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// One EKS resource an execution created and did not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// What it is.
    pub target: Target,
    /// The region its task ran in.
    pub region: String,
}

/// The resources a history (GetExecutionHistory's `events`, oldest first)
/// shows as created and not deleted.
pub fn leftovers(events: &[Value], default_region: &str) -> Vec<Leftover> {
    // Scheduled EKS tasks by event id: (op, target, region).
    let mut scheduled: HashMap<i64, (Op, Target, String)> = HashMap::new();
    // Started task events point at their scheduled event.
    let mut started: HashMap<i64, i64> = HashMap::new();
    let mut live: Vec<Leftover> = Vec::new();
    for e in events {
        let id = e["id"].as_i64().unwrap_or(0);
        let prev = e["previousEventId"].as_i64().unwrap_or(0);
        match e["type"].as_str().unwrap_or("") {
            "TaskScheduled" => {
                let d = &e["taskScheduledEventDetails"];
                if d["resourceType"] != "eks" {
                    continue;
                }
                let action = d["resource"].as_str().unwrap_or("").trim_end_matches(".sync");
                let Some(op) = Op::from_action(action) else { continue };
                let params: Value = d["parameters"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or(Value::Null);
                let Ok(req) = members::to_request(op.name(), &params) else {
                    continue;
                };
                if let Some(t) = op.target(&req) {
                    let region = d["region"].as_str().unwrap_or(default_region).to_string();
                    scheduled.insert(id, (op, t, region));
                }
            }
            "TaskStarted" | "TaskSubmitted" | "TaskSucceeded" => {
                let sid = started.get(&prev).copied().unwrap_or(prev);
                started.insert(id, sid);
                if let Some((op, target, region)) = scheduled.remove(&sid) {
                    let l = Leftover { target, region };
                    if op.creates() {
                        if !live.contains(&l) {
                            live.push(l);
                        }
                    } else {
                        live.retain(|x| x.target != l.target);
                        // Deleting a cluster deletes what was in it.
                        if let Target::Cluster { name } = &l.target {
                            live.retain(|x| match &x.target {
                                Target::Nodegroup { cluster, .. } | Target::FargateProfile { cluster, .. } => {
                                    cluster != name
                                }
                                Target::Cluster { .. } => true,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    live
}

/// What happened to one leftover.
#[derive(Debug, Clone)]
pub struct Removal {
    /// The resource.
    pub target: Target,
    /// `deleted`, `already gone`, or the error.
    pub result: String,
}

fn delete_op(t: &Target) -> (Op, Value) {
    match t {
        Target::Cluster { name } => (Op::DeleteCluster, serde_json::json!({"name": name})),
        Target::Nodegroup { cluster, name } => (
            Op::DeleteNodegroup,
            serde_json::json!({"clusterName": cluster, "nodegroupName": name}),
        ),
        Target::FargateProfile { cluster, name } => (
            Op::DeleteFargateProfile,
            serde_json::json!({"clusterName": cluster, "fargateProfileName": name}),
        ),
    }
}

/// Deletes the leftovers: node groups and Fargate profiles, waiting up to
/// `wait` for them to be gone, then clusters. `report` hears of each
/// removal as it happens.
pub async fn clean_up(api: &EksApi, leftovers: &[Leftover], wait: Duration, report: impl Fn(&Removal)) -> Vec<Removal> {
    let mut out = Vec::new();
    let (inner, clusters): (Vec<_>, Vec<_>) = leftovers
        .iter()
        .partition(|l| !matches!(l.target, Target::Cluster { .. }));
    for phase in [inner, clusters] {
        let mut pending = Vec::new();
        for l in phase {
            let (op, req) = delete_op(&l.target);
            let result = match api.call(&l.region, op, &req).await {
                Ok(_) => {
                    pending.push(l);
                    "deleted".to_string()
                }
                Err(e) if e.error == "EKS.ResourceNotFoundException" => "already gone".to_string(),
                Err(e) => format!("{}: {}", e.error, e.cause),
            };
            let r = Removal {
                target: l.target.clone(),
                result,
            };
            report(&r);
            out.push(r);
        }
        // Wait until they are gone before deleting what contains them.
        let deadline = tokio::time::Instant::now() + wait;
        let mut delay = Duration::from_millis(500);
        while !pending.is_empty() && tokio::time::Instant::now() < deadline {
            let mut still = Vec::new();
            for l in pending {
                if !matches!(api.describe(&l.region, &l.target).await, Ok(None)) {
                    still.push(l);
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sched(id: i64, resource: &str, params: Value) -> Value {
        json!({"id": id, "previousEventId": id - 1, "type": "TaskScheduled",
               "taskScheduledEventDetails": {"resourceType": "eks", "resource": resource,
                   "region": "us-east-1", "parameters": params.to_string()}})
    }

    fn ev(id: i64, prev: i64, t: &str) -> Value {
        json!({"id": id, "previousEventId": prev, "type": t})
    }

    #[test]
    fn created_and_not_deleted_is_left_over() {
        let events = vec![
            sched(1, "createCluster.sync", json!({"Name": "c", "RoleArn": "r"})),
            ev(2, 1, "TaskStarted"),
            ev(3, 2, "TaskSucceeded"),
            sched(
                4,
                "createNodegroup.sync",
                json!({"ClusterName": "c", "NodegroupName": "ng"}),
            ),
            ev(5, 4, "TaskStarted"),
            // A create that EKS refused created nothing.
            sched(
                6,
                "createFargateProfile",
                json!({"ClusterName": "c", "FargateProfileName": "fp"}),
            ),
            ev(7, 6, "TaskFailed"),
            sched(
                8,
                "createFargateProfile",
                json!({"ClusterName": "c", "FargateProfileName": "fp2"}),
            ),
            ev(9, 8, "TaskSucceeded"),
            sched(
                10,
                "deleteFargateProfile.sync",
                json!({"ClusterName": "c", "FargateProfileName": "fp2"}),
            ),
            ev(11, 10, "TaskStarted"),
        ];
        let l = leftovers(&events, "us-east-1");
        let targets: Vec<_> = l.iter().map(|l| l.target.clone()).collect();
        assert_eq!(
            targets,
            vec![
                Target::Cluster { name: "c".into() },
                Target::Nodegroup {
                    cluster: "c".into(),
                    name: "ng".into()
                }
            ]
        );
        // Deleting the cluster takes its node groups with it.
        let mut more = events.clone();
        more.push(sched(12, "deleteCluster", json!({"Name": "c"})));
        more.push(ev(13, 12, "TaskSucceeded"));
        assert!(leftovers(&more, "us-east-1").is_empty());
    }
}
