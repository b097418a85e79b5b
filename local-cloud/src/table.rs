//! `meta.k8s.io/v1` Table output (what `kubectl get` asks for), with the columns a real
//! cluster's printers produce.

use crate::kinds::Kind;
use crate::util;
use serde_json::{json, Value};

fn col(name: &str, ty: &str, format: &str, desc: &str, priority: i64) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The column definitions of a kind.
pub fn columns(kind: Kind) -> Vec<Value> {
    let name = col("Name", "string", "name", NAME_DESC, 0);
    let age = col("Age", "string", "", AGE_DESC, 0);
    match kind {
        Kind::Pod => vec![
            name,
            col("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
            col("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
            col("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
            age,
            col("IP", "string", "", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
            col("Node", "string", "", "NodeName indicates in which node this pod is scheduled.", 1),
            col("Nominated Node", "string", "", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
            col("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
        ],
        Kind::Job => vec![
            name,
            col("Status", "string", "", "Status of the job.", 0),
            col("Completions", "string", "", "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.", 0),
            col("Duration", "string", "", "Time required to complete the job.", 0),
            age,
            col("Containers", "string", "", "Names of each container in the template.", 1),
            col("Images", "string", "", "Images referenced by each container in the template.", 1),
            col("Selector", "string", "", "A label query over pods that should match the pod count. Normally, the system sets this field for you.", 1),
        ],
        Kind::ConfigMap => vec![name, col("Data", "integer", "", "Data contains the configuration data.", 0), age],
        Kind::Namespace => vec![name, col("Status", "string", "", "The status of the namespace", 0), age],
    }
}

fn since(ts: Option<&str>, now: jiff::Timestamp) -> String {
    match ts.and_then(util::parse_time) {
        Some(t) => util::human_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn has_condition(obj: &Value, ty: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(ty)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

/// `metav1.FormatLabelSelector`.
pub fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel else { return "<none>".into() };
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut kv: Vec<_> = m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        kv.sort();
        parts.extend(kv);
    }
    if let Some(es) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in es {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let vals: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                _ => parts.push(format!("!{key}")),
            }
        }
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// What `kubectl get pods` shows in STATUS.
pub fn pod_status_reason(pod: &Value) -> String {
    let mut reason = str_at(pod, "/status/phase").to_string();
    let r = str_at(pod, "/status/reason");
    if !r.is_empty() {
        reason = r.to_string();
    }
    let mut has_running = false;
    if let Some(cs) = pod.pointer("/status/containerStatuses").and_then(Value::as_array) {
        for c in cs.iter().rev() {
            if let Some(w) = c.pointer("/state/waiting") {
                let wr = w.get("reason").and_then(Value::as_str).unwrap_or("");
                if !wr.is_empty() {
                    reason = wr.to_string();
                }
            } else if let Some(t) = c.pointer("/state/terminated") {
                let tr = t.get("reason").and_then(Value::as_str).unwrap_or("");
                reason = if !tr.is_empty() {
                    tr.to_string()
                } else if let Some(sig) = t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                    format!("Signal:{sig}")
                } else {
                    format!("ExitCode:{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0))
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                has_running = true;
            }
        }
    }
    if reason == "Completed" && has_running {
        reason = if has_condition(pod, "Ready") {
            "Running".into()
        } else {
            "NotReady".into()
        };
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        reason = "Terminating".into();
    }
    reason
}

/// The cells of one object's row (all columns, wide ones included, as the server sends them).
pub fn cells(kind: Kind, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let name = util::name(obj).to_string();
    let age = since(obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str), now);
    match kind {
        Kind::Pod => {
            let total = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let statuses = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            let ready = statuses.map_or(0, |cs| {
                cs.iter()
                    .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                    .count()
            });
            let restarts: i64 = statuses.map_or(0, |cs| {
                cs.iter()
                    .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                    .sum()
            });
            vec![
                name.into(),
                format!("{ready}/{total}").into(),
                pod_status_reason(obj).into(),
                restarts.to_string().into(),
                age.into(),
                or_none(str_at(obj, "/status/podIP")).into(),
                or_none(str_at(obj, "/spec/nodeName")).into(),
                "<none>".into(),
                "<none>".into(),
            ]
        }
        Kind::Job => {
            let succeeded = obj.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0);
            let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
                Some(c) => format!("{succeeded}/{c}"),
                None => {
                    let p = obj.pointer("/spec/parallelism").and_then(Value::as_i64).unwrap_or(0);
                    if p > 1 {
                        format!("{succeeded}/1 of {p}")
                    } else {
                        format!("{succeeded}/1")
                    }
                }
            };
            let start = obj
                .pointer("/status/startTime")
                .and_then(Value::as_str)
                .and_then(util::parse_time);
            let end = obj
                .pointer("/status/completionTime")
                .and_then(Value::as_str)
                .and_then(util::parse_time);
            let duration = match (start, end) {
                (None, _) => String::new(),
                (Some(s), None) => util::human_duration(now.as_second() - s.as_second()),
                (Some(s), Some(e)) => util::human_duration(e.as_second() - s.as_second()),
            };
            let status = if has_condition(obj, "Complete") {
                "Complete"
            } else if has_condition(obj, "Failed") {
                "Failed"
            } else if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
                "Terminating"
            } else if has_condition(obj, "Suspended") {
                "Suspended"
            } else if has_condition(obj, "FailureTarget") {
                "FailureTarget"
            } else {
                "Running"
            };
            let containers = obj.pointer("/spec/template/spec/containers").and_then(Value::as_array);
            let names: Vec<&str> = containers
                .map(|cs| {
                    cs.iter()
                        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or(""))
                        .collect()
                })
                .unwrap_or_default();
            let images: Vec<&str> = containers
                .map(|cs| {
                    cs.iter()
                        .map(|c| c.get("image").and_then(Value::as_str).unwrap_or(""))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                name.into(),
                status.into(),
                completions.into(),
                duration.into(),
                age.into(),
                names.join(",").into(),
                images.join(",").into(),
                format_selector(obj.pointer("/spec/selector")).into(),
            ]
        }
        Kind::ConfigMap => {
            let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len())
                + obj.get("binaryData").and_then(Value::as_object).map_or(0, |m| m.len());
            vec![name.into(), (n as i64).into(), age.into()]
        }
        Kind::Namespace => vec![name.into(), str_at(obj, "/status/phase").into(), age.into()],
    }
}

/// `includeObject=` of a Table request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

fn row(kind: Kind, obj: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let mut r = json!({"cells": cells(kind, obj, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            r["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))});
        }
        IncludeObject::Object => r["object"] = obj.clone(),
    }
    r
}

/// A Table of `objs`.
pub fn table(kind: Kind, objs: &[&Value], rv: Option<u64>, include: IncludeObject, with_columns: bool) -> Value {
    let now = jiff::Timestamp::now();
    let mut meta = json!({});
    if let Some(rv) = rv {
        meta["resourceVersion"] = rv.to_string().into();
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": if with_columns { Value::Array(columns(kind)) } else { Value::Null },
        "rows": objs.iter().map(|o| row(kind, o, include, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_cells_follow_kubectl() {
        let j = json!({"metadata": {"name": "pi", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                     "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
            "status": {"succeeded": 1, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:00:07Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        let c = cells(Kind::Job, &j, "2024-01-01T00:01:00Z".parse().unwrap());
        assert_eq!(
            c,
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("7s"),
                json!("60s"),
                json!("pi"),
                json!("perl"),
                json!("batch.kubernetes.io/controller-uid=u")
            ]
        );
    }

    #[test]
    fn pod_status_column() {
        let p = json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(pod_status_reason(&p), "ContainerCreating");
        let p = json!({"status": {"phase": "Succeeded", "containerStatuses": [{"ready": false, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}});
        assert_eq!(pod_status_reason(&p), "Completed");
    }
}
