//! The node: runs every pod that is created (whatever created it) through the phases a kubelet
//! reports — Pending (ContainerCreating), Running, Succeeded or Failed — and kills a pod's
//! containers when the pod is deleted.

use crate::containers::{self, Outcome};
use crate::kinds::Kind;
use crate::state::Shared;
use crate::store::EventType;
use crate::util;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

/// The node every pod runs on.
pub const NODE_NAME: &str = "aslan-local-cloud-node";
const HOST_IP: &str = "172.18.0.2";

/// Runs the node until the store closes.
pub async fn run(state: Shared) {
    let mut rx = state.store.subscribe();
    let mut running: HashMap<String, watch::Sender<bool>> = HashMap::new();
    let mut seen = 0u32;
    loop {
        match rx.recv().await {
            Ok(ev) if ev.kind == Kind::Pod => match ev.etype {
                EventType::Added => start_if_new(&state, &mut running, &ev.object),
                EventType::Deleted => {
                    if let Some(c) = running.remove(util::uid(&ev.object)) {
                        let _ = c.send(true);
                    }
                    state
                        .logs
                        .remove_pod(util::namespace(&ev.object), util::name(&ev.object));
                    state
                        .attempts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(util::uid(&ev.object));
                }
                EventType::Modified => {}
            },
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let pods = state.store.list(Kind::Pod, None).0;
                let live: std::collections::HashSet<&str> = pods.iter().map(|p| util::uid(p)).collect();
                running.retain(|uid, c| {
                    let keep = live.contains(uid.as_str());
                    if !keep {
                        let _ = c.send(true);
                    }
                    keep
                });
                for p in &pods {
                    start_if_new(&state, &mut running, p);
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        seen = seen.wrapping_add(1);
        if seen % 256 == 0 {
            running.retain(|_, c| !c.is_closed());
        }
    }
}

fn start_if_new(state: &Shared, running: &mut HashMap<String, watch::Sender<bool>>, pod: &Arc<Value>) {
    let uid = util::uid(pod).to_string();
    let pending = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .is_none_or(|p| p == "Pending");
    if running.contains_key(&uid) || !pending || pod.pointer("/status/containerStatuses").is_some() {
        return;
    }
    let (tx, rx) = watch::channel(false);
    running.insert(uid, tx);
    tokio::spawn(run_pod(state.clone(), pod.clone(), rx));
}

fn cond(ty: &str, status: bool, now: &str, reason: Option<&str>, message: Option<String>) -> Value {
    let mut c = json!({"type": ty, "status": if status { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = r.into();
    }
    if let Some(m) = message {
        c["message"] = m.into();
    }
    c
}

/// Keeps `lastTransitionTime` of conditions whose status did not change.
fn merge_conditions(old: Option<&Value>, mut new: Vec<Value>) -> Value {
    if let Some(old) = old.and_then(Value::as_array) {
        for c in &mut new {
            if let Some(o) = old
                .iter()
                .find(|o| o.get("type") == c.get("type") && o.get("status") == c.get("status"))
            {
                c["lastTransitionTime"] = o.get("lastTransitionTime").cloned().unwrap_or(Value::Null);
            }
        }
    }
    Value::Array(new)
}

struct PodInfo {
    ns: String,
    name: String,
    uid: String,
    containers: Vec<(String, String)>,
    pod_ip: String,
    start_time: String,
}

enum CState {
    /// Waiting to start: `ContainerCreating`, or the reason given by
    /// `aslan.io/waiting-reason` (`ImagePullBackOff`).
    Waiting(Option<String>),
    Running {
        started: String,
        id: String,
    },
    Terminated {
        o: Outcome,
        id: String,
    },
}

fn container_status(name: &str, image: &str, st: &CState) -> Value {
    let mut s = json!({"name": name, "image": image, "imageID": "", "lastState": {}, "restartCount": 0});
    match st {
        CState::Waiting(reason) => {
            s["ready"] = false.into();
            s["started"] = false.into();
            s["state"] = match reason {
                None => json!({"waiting": {"reason": "ContainerCreating"}}),
                Some(r) => json!({"waiting": {"reason": r, "message": format!("Back-off pulling image \"{image}\"")}}),
            };
        }
        CState::Running { started, id } => {
            s["containerID"] = id.clone().into();
            s["imageID"] = format!("{image}@sha256:{}", util::random_hex(64)).into();
            s["ready"] = true.into();
            s["started"] = true.into();
            s["state"] = json!({"running": {"startedAt": started}});
        }
        CState::Terminated { o, id } => {
            s["containerID"] = id.clone().into();
            s["ready"] = false.into();
            s["started"] = false.into();
            let mut t = json!({
                "exitCode": o.exit_code,
                "reason": o.reason,
                "startedAt": util::rfc3339_secs(o.started),
                "finishedAt": util::rfc3339_secs(o.finished),
                "containerID": id,
            });
            if let Some(m) = &o.message {
                t["message"] = m.clone().into();
            }
            s["state"] = json!({"terminated": t});
        }
    }
    s
}

fn write_status(state: &Shared, info: &PodInfo, states: &[CState]) -> bool {
    let now = util::now_rfc3339();
    let all_done = states.iter().all(|s| matches!(s, CState::Terminated { .. }));
    let any_failed = states
        .iter()
        .any(|s| matches!(s, CState::Terminated { o, .. } if o.exit_code != 0));
    let creating = states.iter().all(|s| matches!(s, CState::Waiting(_)));
    let unready: Vec<&str> = info
        .containers
        .iter()
        .zip(states)
        .filter(|(_, s)| !matches!(s, CState::Running { .. }))
        .map(|((n, _), _)| n.as_str())
        .collect();
    let (phase, ready_reason) = if all_done {
        if any_failed {
            ("Failed", Some("PodFailed"))
        } else {
            ("Succeeded", Some("PodCompleted"))
        }
    } else if creating {
        ("Pending", Some("ContainersNotReady"))
    } else if unready.is_empty() {
        ("Running", None)
    } else {
        ("Running", Some("ContainersNotReady"))
    };
    let ready = ready_reason.is_none();
    let msg = (ready_reason == Some("ContainersNotReady"))
        .then(|| format!("containers with unready status: [{}]", unready.join(" ")));
    let statuses: Vec<Value> = info
        .containers
        .iter()
        .zip(states)
        .map(|((n, img), s)| container_status(n, img, s))
        .collect();
    let res = state.store.update(Kind::Pod, &info.ns, &info.name, |cur| {
        if util::uid(cur) != info.uid || cur.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(None);
        }
        let mut v = cur.clone();
        if v.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
                s.insert("nodeName".into(), NODE_NAME.into());
            }
        }
        let conditions = vec![
            cond("PodReadyToStartContainers", !creating && !all_done, &now, None, None),
            cond("Initialized", true, &now, None, None),
            cond("Ready", ready, &now, ready_reason, msg.clone()),
            cond("ContainersReady", ready, &now, ready_reason, msg.clone()),
            cond("PodScheduled", true, &now, None, None),
        ];
        let old = v.pointer("/status/conditions").cloned();
        v["status"] = json!({
            "phase": phase,
            "conditions": merge_conditions(old.as_ref(), conditions),
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "podIP": info.pod_ip,
            "podIPs": [{"ip": info.pod_ip}],
            "startTime": info.start_time,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        });
        Ok(Some(v))
    });
    res.is_ok()
}

async fn run_pod(state: Shared, pod: Arc<Value>, mut cancel: watch::Receiver<bool>) {
    let ann: Map<String, Value> = util::meta_map(&pod, "annotations");
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let b = util::random_bytes();
    let info = PodInfo {
        ns: util::namespace(&pod).to_string(),
        name: util::name(&pod).to_string(),
        uid: util::uid(&pod).to_string(),
        containers: containers
            .iter()
            .map(|c| {
                (
                    c.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
                    c.get("image").and_then(Value::as_str).unwrap_or("").to_string(),
                )
            })
            .collect(),
        pod_ip: format!("10.244.{}.{}", b[0] % 4, 2 + b[1] % 250),
        start_time: util::now_rfc3339(),
    };
    let mut states: Vec<CState> = containers.iter().map(|_| CState::Waiting(None)).collect();
    if !write_status(&state, &info, &states) {
        return;
    }
    let delay = ann
        .get("aslan.io/start-delay-ms")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(5)
        .min(3_600_000);
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
        _ = cancel.changed() => return,
    }
    if let Some(reason) = ann.get("aslan.io/waiting-reason").and_then(Value::as_str) {
        // The containers never start (an image that cannot be pulled).
        let states: Vec<CState> = containers
            .iter()
            .map(|_| CState::Waiting(Some(reason.to_string())))
            .collect();
        write_status(&state, &info, &states);
        let _ = cancel.changed().await;
        return;
    }
    let attempt = state.attempt_of(&info.uid);
    let mut set = JoinSet::new();
    for (i, c) in containers.iter().enumerate() {
        let (cname, _) = &info.containers[i];
        let log = state.logs.start(&info.ns, &info.name, cname);
        let plan = containers::plan(c, &info.name, &ann, attempt, state.run_processes);
        set.spawn(async move { (i, containers::run(plan, log).await) });
        states[i] = CState::Running {
            started: util::now_rfc3339(),
            id: format!("containerd://{}", util::random_hex(64)),
        };
    }
    if !write_status(&state, &info, &states) {
        return;
    }
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                None => break,
                Some(Ok((i, outcome))) => {
                    let id = match &states[i] { CState::Running { id, .. } => id.clone(), _ => String::new() };
                    states[i] = CState::Terminated { o: outcome, id };
                    if !write_status(&state, &info, &states) {
                        return;
                    }
                }
                Some(Err(_)) => break,
            },
            _ = cancel.changed() => {
                set.abort_all();
                return;
            }
        }
    }
}
