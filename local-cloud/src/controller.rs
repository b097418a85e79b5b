//! The Job controller, behaving as Kubernetes 1.31+'s: creates pods from the template (up to
//! `parallelism`, until `completions` succeed), replaces failed pods until `backoffLimit`,
//! enforces `activeDeadlineSeconds`, and reports status the way the real controller does —
//! terminated pods first pass through `uncountedTerminatedPods`, success sets
//! `SuccessCriteriaMet` then `Complete`, failure sets `FailureTarget` then `Failed`, each
//! change its own write (so watchers see each as a MODIFIED event).

use crate::api::crud_create_pod;
use crate::kinds::Kind;
use crate::state::{Finished, Shared};
use crate::store::EventType;
use crate::util;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

type JobKey = (String, String);

#[derive(Default)]
struct JobMemory {
    /// Pods already counted in `succeeded` / `failed`.
    counted: HashSet<String>,
    /// Pods that went away before being counted: (uid, succeeded).
    vanished: Vec<(String, bool)>,
    /// Pods the controller deleted itself (not counted as failures).
    removed_by_us: HashSet<String>,
    /// Pods created so far (the attempt number of the next one).
    created: u32,
    /// No replacement pod before this (back-off after failures).
    not_before: Option<tokio::time::Instant>,
}

struct Controller {
    state: Shared,
    memory: HashMap<String, JobMemory>,
    queue: VecDeque<JobKey>,
    queued: HashSet<JobKey>,
    requeue: mpsc::UnboundedSender<JobKey>,
}

/// Runs the controller until the store closes.
pub async fn run(state: Shared) {
    let mut events = state.store.subscribe();
    let (requeue, mut requeued) = mpsc::unbounded_channel();
    let mut c = Controller {
        state,
        memory: HashMap::new(),
        queue: VecDeque::new(),
        queued: HashSet::new(),
        requeue,
    };
    loop {
        while let Some(key) = c.queue.pop_front() {
            c.queued.remove(&key);
            // Take in every event that is already there first, so one sync sees them all.
            loop {
                match events.try_recv() {
                    Ok(ev) => c.observe(ev.kind, ev.etype, &ev.object),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => c.resync_all(),
                    Err(_) => break,
                }
            }
            c.sync(&key);
        }
        tokio::select! {
            r = events.recv() => match r {
                Ok(ev) => c.observe(ev.kind, ev.etype, &ev.object),
                Err(broadcast::error::RecvError::Lagged(_)) => c.resync_all(),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some(key) = requeued.recv() => c.enqueue(key),
        }
    }
}

fn controller_owner(obj: &Value) -> Option<(String, String)> {
    let refs = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    let r = refs.iter().find(|r| {
        r.get("controller").and_then(Value::as_bool) == Some(true)
            && r.get("kind").and_then(Value::as_str) == Some("Job")
    })?;
    Some((
        r.get("name")?.as_str()?.to_string(),
        r.get("uid")?.as_str()?.to_string(),
    ))
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending")
}

fn has_condition(job: &Value, ty: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(ty)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn condition(ty: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": ty, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

/// `active` is omitted when 0, as the real (omitempty) field is.
fn set_active(status: &mut Value, n: i64) {
    if let Some(m) = status.as_object_mut() {
        if n > 0 {
            m.insert("active".into(), n.into());
        } else {
            m.remove("active");
        }
    }
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

impl Controller {
    fn enqueue(&mut self, key: JobKey) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    fn resync_all(&mut self) {
        for j in self.state.store.list(Kind::Job, None).0 {
            self.enqueue((util::namespace(&j).to_string(), util::name(&j).to_string()));
        }
    }

    fn observe(&mut self, kind: Kind, etype: EventType, obj: &Value) {
        match kind {
            Kind::Job => {
                if etype == EventType::Deleted {
                    self.memory.remove(util::uid(obj));
                } else {
                    self.enqueue((util::namespace(obj).to_string(), util::name(obj).to_string()));
                }
            }
            Kind::Pod => {
                let Some((job, job_uid)) = controller_owner(obj) else {
                    return;
                };
                if etype == EventType::Deleted {
                    let uid = util::uid(obj).to_string();
                    if let Some(m) = self.memory.get_mut(&job_uid) {
                        if !m.counted.contains(&uid) && !m.removed_by_us.contains(&uid) {
                            // A pod deleted while running counts as failed (it is killed).
                            m.vanished.push((uid, phase(obj) == "Succeeded"));
                        }
                    }
                }
                self.enqueue((util::namespace(obj).to_string(), job));
            }
            _ => {}
        }
    }

    fn write_status(&self, ns: &str, name: &str, uid: &str, status: &Value) -> bool {
        self.state
            .store
            .update(Kind::Job, ns, name, |cur| {
                if util::uid(cur) != uid {
                    return Ok(None);
                }
                let mut v = cur.clone();
                v["status"] = status.clone();
                Ok(Some(v))
            })
            .is_ok()
    }

    fn finish(&self, ns: &str, name: &str, cond: &'static str) {
        let at = jiff::Timestamp::now();
        tracing::info!(target: "aslan_local_cloud::job", namespace = ns, job = name, condition = cond, at = %util::rfc3339_nanos(at), "job finished");
        self.state.set_finished(ns, name, Finished { condition: cond, at });
    }

    fn sync(&mut self, key: &JobKey) {
        let (ns, name) = key;
        let Some(job) = self.state.store.get(Kind::Job, ns, name) else {
            return;
        };
        let uid = util::uid(&job).to_string();
        if job.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let spec = job.get("spec").cloned().unwrap_or(json!({}));
        let mut status = job.get("status").cloned().filter(Value::is_object).unwrap_or(json!({}));
        let finished = has_condition(&job, "Complete") || has_condition(&job, "Failed");
        let pods: Vec<Arc<Value>> = self
            .state
            .store
            .list(Kind::Pod, Some(ns))
            .0
            .into_iter()
            .filter(|p| util::owned_by(p, &uid))
            .collect();
        let active: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| matches!(phase(p), "Pending" | "Running") && p.pointer("/metadata/deletionTimestamp").is_none())
            .collect();
        if finished {
            self.delete_pods(ns, &uid, &active);
            return;
        }
        let mem = self.memory.entry(uid.clone()).or_default();
        let now = util::now_rfc3339();
        let mut new_succeeded: Vec<String> = Vec::new();
        let mut new_failed: Vec<String> = Vec::new();
        for p in &pods {
            let puid = util::uid(p).to_string();
            if mem.counted.contains(&puid) {
                continue;
            }
            match phase(p) {
                "Succeeded" => new_succeeded.push(puid),
                "Failed" => new_failed.push(puid),
                _ => {}
            }
        }
        for (puid, ok) in mem.vanished.drain(..) {
            if mem.counted.contains(&puid) {
                continue;
            }
            if ok {
                new_succeeded.push(puid);
            } else {
                new_failed.push(puid);
            }
        }
        let ready = active.iter().filter(|p| is_ready(p)).count() as i64;
        if status.get("startTime").is_none() {
            status["startTime"] = now.clone().into();
        }
        set_active(&mut status, active.len() as i64);
        status["ready"] = ready.into();
        status["terminating"] = 0.into();
        if !new_succeeded.is_empty() || !new_failed.is_empty() {
            // First the terminated pods are recorded as uncounted, then counted.
            let mut unc = json!({});
            if !new_succeeded.is_empty() {
                unc["succeeded"] = json!(new_succeeded);
            }
            if !new_failed.is_empty() {
                unc["failed"] = json!(new_failed);
            }
            status["uncountedTerminatedPods"] = unc;
            if !self.write_status(ns, name, &uid, &status) {
                return;
            }
            let mem = self.memory.entry(uid.clone()).or_default();
            mem.counted.extend(new_succeeded.iter().cloned());
            mem.counted.extend(new_failed.iter().cloned());
            let s = status.get("succeeded").and_then(Value::as_i64).unwrap_or(0) + new_succeeded.len() as i64;
            let f = status.get("failed").and_then(Value::as_i64).unwrap_or(0) + new_failed.len() as i64;
            if s > 0 {
                status["succeeded"] = s.into();
            }
            if f > 0 {
                status["failed"] = f.into();
                let backoff = self.state.pod_backoff.saturating_mul(1 << (f - 1).clamp(0, 6) as u32);
                mem.not_before = Some(tokio::time::Instant::now() + backoff);
            }
        }
        status["uncountedTerminatedPods"] = json!({});
        let succeeded = status.get("succeeded").and_then(Value::as_i64).unwrap_or(0);
        let failed = status.get("failed").and_then(Value::as_i64).unwrap_or(0);
        let completions = spec.get("completions").and_then(Value::as_i64);
        let parallelism = spec.get("parallelism").and_then(Value::as_i64).unwrap_or(1);
        let backoff_limit = spec.get("backoffLimit").and_then(Value::as_i64).unwrap_or(6);
        let deadline = spec.get("activeDeadlineSeconds").and_then(Value::as_i64);
        let started = status
            .get("startTime")
            .and_then(Value::as_str)
            .and_then(util::parse_time);
        let elapsed = started
            .map(|s| jiff::Timestamp::now().as_second() - s.as_second())
            .unwrap_or(0);

        let success = match completions {
            Some(c) => succeeded >= c,
            None => succeeded > 0 && active.is_empty(),
        };
        let conds = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has = |t: &str| conds.iter().any(|c| c.get("type").and_then(Value::as_str) == Some(t));
        let failure = if has("FailureTarget") {
            conds
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("FailureTarget"))
                .map(|c| {
                    (
                        c["reason"].as_str().unwrap_or("").to_string(),
                        c["message"].as_str().unwrap_or("").to_string(),
                    )
                })
        } else if failed > backoff_limit {
            Some((
                "BackoffLimitExceeded".into(),
                "Job has reached the specified backoff limit".into(),
            ))
        } else if deadline.is_some_and(|d| elapsed >= d) {
            Some((
                "DeadlineExceeded".into(),
                "Job was active longer than specified deadline".into(),
            ))
        } else {
            None
        };

        if let Some((reason, message)) = failure.filter(|_| !success || has("FailureTarget")) {
            if !has("FailureTarget") {
                let mut cs = conds.clone();
                cs.push(condition("FailureTarget", &reason, &message, &now));
                status["conditions"] = Value::Array(cs);
                if !self.write_status(ns, name, &uid, &status) {
                    return;
                }
            }
            self.delete_pods(ns, &uid, &active);
            set_active(&mut status, 0);
            status["ready"] = 0.into();
            let mut cs = status
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            cs.push(condition("Failed", &reason, &message, &util::now_rfc3339()));
            status["conditions"] = Value::Array(cs);
            if self.write_status(ns, name, &uid, &status) {
                self.finish(ns, name, "Failed");
            }
            return;
        }
        if success {
            let msg = "Reached expected number of succeeded pods";
            if !has("SuccessCriteriaMet") {
                let mut cs = conds.clone();
                cs.push(condition("SuccessCriteriaMet", "CompletionsReached", msg, &now));
                status["conditions"] = Value::Array(cs);
                if !self.write_status(ns, name, &uid, &status) {
                    return;
                }
            }
            self.delete_pods(ns, &uid, &active);
            set_active(&mut status, 0);
            status["ready"] = 0.into();
            let end = util::now_rfc3339();
            let mut cs = status
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            cs.push(condition("Complete", "CompletionsReached", msg, &end));
            status["conditions"] = Value::Array(cs);
            status["completionTime"] = end.into();
            if self.write_status(ns, name, &uid, &status) {
                self.finish(ns, name, "Complete");
            }
            return;
        }

        // Still running: create the pods that are missing.
        let suspended = spec.get("suspend").and_then(Value::as_bool) == Some(true);
        let want = if suspended {
            0
        } else {
            match completions {
                Some(c) => parallelism.min(c - succeeded).max(0),
                None if succeeded > 0 => 0,
                None => parallelism,
            }
        };
        let missing = want - active.len() as i64;
        let mut created = 0;
        if missing > 0 {
            let mem = self.memory.entry(uid.clone()).or_default();
            let wait = mem.not_before.filter(|t| *t > tokio::time::Instant::now());
            if let Some(t) = wait {
                let tx = self.requeue.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(t).await;
                    let _ = tx.send(key);
                });
            } else {
                for _ in 0..missing.min(500) {
                    if self.create_pod(&job, ns, name, &uid) {
                        created += 1;
                    }
                }
            }
        }
        set_active(&mut status, active.len() as i64 + created);
        self.write_status(ns, name, &uid, &status);
        if let (Some(d), Some(s)) = (deadline, started) {
            let due = s.as_second() + d - jiff::Timestamp::now().as_second();
            let tx = self.requeue.clone();
            let key = key.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((due.max(0) as u64) * 1000 + 5)).await;
                let _ = tx.send(key);
            });
        }
    }

    fn delete_pods(&mut self, ns: &str, job_uid: &str, pods: &[&Arc<Value>]) {
        let mem = self.memory.entry(job_uid.to_string()).or_default();
        for p in pods {
            mem.removed_by_us.insert(util::uid(p).to_string());
            self.state.store.remove(Kind::Pod, ns, util::name(p));
        }
    }

    fn create_pod(&mut self, job: &Value, ns: &str, name: &str, uid: &str) -> bool {
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut meta = template
            .get("metadata")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        meta["generateName"] = format!("{name}-").into();
        meta["namespace"] = ns.into();
        meta["ownerReferences"] = json!([{
            "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true
        }]);
        if let Some(m) = meta.as_object_mut() {
            m.remove("name");
            m.remove("creationTimestamp");
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
        let attempt = {
            let mem = self.memory.entry(uid.to_string()).or_default();
            let a = mem.created;
            mem.created += 1;
            a
        };
        match crud_create_pod(&self.state, ns, pod, attempt) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(namespace = ns, job = name, error = %e, "creating a pod failed");
                false
            }
        }
    }
}
