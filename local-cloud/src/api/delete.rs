//! DELETE, with `propagationPolicy` (Orphan, Background, Foreground) and a small garbage
//! collector that deletes or orphans dependents (a Job's pods) and empties deleted namespaces.

use super::body::{self, RespBody};
use super::Req;
use crate::kinds::Kind;
use crate::state::Shared;
use crate::status::{self, ApiError};
use crate::util;
use http::Response;
use serde_json::{json, Value};

/// The warning a real server sends when a Job is deleted without a propagation policy.
pub const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

/// What happens to dependents.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are kept (their owner reference is removed).
    Orphan,
    /// The owner goes at once; dependents are deleted after.
    Background,
    /// The owner gets `deletionTimestamp` and the `foregroundDeletion` finalizer, its dependents
    /// are deleted, then it goes.
    Foreground,
}

impl Propagation {
    fn parse(s: &str) -> Result<Propagation, ApiError> {
        match s {
            "Orphan" => Ok(Propagation::Orphan),
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            other => Err(ApiError::new(
                422,
                "Invalid",
                format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
            )),
        }
    }
}

pub async fn handle_delete(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Response<RespBody>, ApiError> {
    let opts: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}")))?
    };
    let policy_str = req
        .q("propagationPolicy")
        .map(String::from)
        .or_else(|| opts.get("propagationPolicy").and_then(Value::as_str).map(String::from));
    let orphan = req
        .q("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| opts.get("orphanDependents").and_then(Value::as_bool));
    let explicit = policy_str.is_some() || orphan.is_some();
    let policy = match (policy_str, orphan) {
        (Some(p), _) => Propagation::parse(&p)?,
        (None, Some(true)) => Propagation::Orphan,
        (None, Some(false)) => Propagation::Background,
        (None, None) if kind == Kind::Job => Propagation::Orphan,
        (None, None) => Propagation::Background,
    };
    let cur = state
        .store
        .get(kind, ns, name)
        .ok_or_else(|| ApiError::not_found(kind, name))?;
    if let Some(pre) = opts.get("preconditions") {
        if let Some(uid) = pre.get("uid").and_then(Value::as_str) {
            if uid != util::uid(&cur) {
                return Err(ApiError::conflict_msg(
                    kind,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        util::uid(&cur)
                    ),
                ));
            }
        }
        if let Some(rv) = pre.get("resourceVersion").and_then(Value::as_str) {
            if rv != util::meta_str(&cur, "resourceVersion") {
                return Err(ApiError::conflict_msg(
                    kind,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        util::meta_str(&cur, "resourceVersion")
                    ),
                ));
            }
        }
    }
    if req.q("dryRun") == Some("All") {
        return Ok(body::json(200, &cur));
    }
    let (code, out) = delete_object(state, kind, ns, name, policy)?;
    let mut resp = body::json(code, &out);
    if kind == Kind::Job && !explicit {
        body::add_warning(&mut resp, JOB_ORPHAN_WARNING);
    }
    Ok(resp)
}

/// Deletes an object with a propagation policy; returns the status code and body a real server
/// answers.
pub fn delete_object(
    state: &Shared,
    kind: Kind,
    ns: &str,
    name: &str,
    policy: Propagation,
) -> Result<(u16, Value), ApiError> {
    let cur = state
        .store
        .get(kind, ns, name)
        .ok_or_else(|| ApiError::not_found(kind, name))?;
    let uid = util::uid(&cur).to_string();
    match kind {
        Kind::Namespace => {
            if matches!(name, "default" | "kube-system" | "kube-public") {
                return Err(ApiError::forbidden(kind, name, "this namespace may not be deleted"));
            }
            let updated = state.store.update(kind, "", name, |cur| {
                let mut v = cur.clone();
                if v.pointer("/metadata/deletionTimestamp").is_none() {
                    util::meta_mut(&mut v).insert("deletionTimestamp".into(), util::now_rfc3339().into());
                }
                v["status"] = json!({"phase": "Terminating"});
                Ok(Some(v))
            })?;
            let state = state.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                for k in [Kind::Job, Kind::Pod, Kind::ConfigMap] {
                    for o in state.store.list(k, Some(&name)).0 {
                        let _ = delete_object(&state, k, &name, util::name(&o), Propagation::Background);
                    }
                }
                state.store.remove(Kind::Namespace, "", &name);
            });
            Ok((200, (*updated).clone()))
        }
        Kind::Pod => {
            let gone = state
                .store
                .remove(kind, ns, name)
                .ok_or_else(|| ApiError::not_found(kind, name))?;
            Ok((200, (*gone).clone()))
        }
        Kind::ConfigMap => {
            state
                .store
                .remove(kind, ns, name)
                .ok_or_else(|| ApiError::not_found(kind, name))?;
            Ok((200, status::success_deleted(kind, name, &uid)))
        }
        Kind::Job => match policy {
            Propagation::Foreground => {
                let updated = state.store.update(kind, ns, name, |cur| {
                    let mut v = cur.clone();
                    let m = util::meta_mut(&mut v);
                    if m.get("deletionTimestamp").is_none() {
                        m.insert("deletionTimestamp".into(), util::now_rfc3339().into());
                        m.insert("deletionGracePeriodSeconds".into(), 0.into());
                    }
                    let fins = m.entry("finalizers").or_insert_with(|| json!([]));
                    if let Some(a) = fins.as_array_mut() {
                        if !a.iter().any(|f| f == "foregroundDeletion") {
                            a.push("foregroundDeletion".into());
                        }
                    }
                    Ok(Some(v))
                })?;
                let state = state.clone();
                let (ns, name) = (ns.to_string(), name.to_string());
                tokio::spawn(async move {
                    delete_dependents(&state, &ns, &uid);
                    state.store.remove(Kind::Job, &ns, &name);
                });
                Ok((202, (*updated).clone()))
            }
            Propagation::Background => {
                state
                    .store
                    .remove(kind, ns, name)
                    .ok_or_else(|| ApiError::not_found(kind, name))?;
                let state2 = state.clone();
                let ns2 = ns.to_string();
                let uid2 = uid.clone();
                tokio::spawn(async move { delete_dependents(&state2, &ns2, &uid2) });
                Ok((200, status::success_deleted(kind, name, &uid)))
            }
            Propagation::Orphan => {
                state
                    .store
                    .remove(kind, ns, name)
                    .ok_or_else(|| ApiError::not_found(kind, name))?;
                orphan_dependents(state, ns, &uid);
                Ok((200, status::success_deleted(kind, name, &uid)))
            }
        },
    }
}

fn delete_dependents(state: &Shared, ns: &str, owner_uid: &str) {
    for pod in state.store.list(Kind::Pod, Some(ns)).0 {
        if util::owned_by(&pod, owner_uid) {
            state.store.remove(Kind::Pod, ns, util::name(&pod));
        }
    }
}

fn orphan_dependents(state: &Shared, ns: &str, owner_uid: &str) {
    for pod in state.store.list(Kind::Pod, Some(ns)).0 {
        if util::owned_by(&pod, owner_uid) {
            let _ = state.store.update(Kind::Pod, ns, util::name(&pod), |cur| {
                let mut v = cur.clone();
                let m = util::meta_mut(&mut v);
                if let Some(refs) = m.get_mut("ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
                    if refs.is_empty() {
                        m.remove("ownerReferences");
                    }
                }
                Ok(Some(v))
            });
        }
    }
}
