//! Create, get, list, replace and patch.

use super::body::{self, RespBody};
use super::{delete, logs, watch, Req};
use crate::kinds::Kind;
use crate::objects::{self, FieldValidation};
use crate::patch::{self, PatchType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::status::ApiError;
use crate::table::{self, IncludeObject};
use crate::util;
use base64::Engine;
use http::{Method, Response};
use serde_json::{json, Value};
use std::sync::Arc;

const TABLE_CT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

pub fn include_object(req: &Req) -> IncludeObject {
    match req.q("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

fn respond_object(req: &Req, kind: Kind, code: u16, obj: &Value) -> Response<RespBody> {
    if req.wants_table() {
        let t = table::table(kind, &[obj], None, include_object(req), true);
        body::json_with_type(code, &t, TABLE_CT)
    } else {
        body::json(code, obj)
    }
}

/// Checks that the namespace exists and accepts new objects.
pub fn check_namespace(state: &Shared, kind: Kind, ns: &str, name: &str) -> Result<(), ApiError> {
    let nsobj = state
        .store
        .get(Kind::Namespace, "", ns)
        .ok_or_else(|| ApiError::not_found(Kind::Namespace, ns))?;
    if nsobj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") {
        return Err(ApiError::forbidden(
            kind,
            name,
            &format!("unable to create new content in namespace {ns} because it is being terminated"),
        ));
    }
    Ok(())
}

/// Creates an object from a (canonical, unvalidated) JSON body; used by POST and by the Job
/// controller for pods.
pub fn create_object(
    state: &Shared,
    kind: Kind,
    ns: &str,
    obj: Value,
    dry_run: bool,
    attempt: Option<u32>,
) -> Result<Arc<Value>, ApiError> {
    let name = util::name(&obj).to_string();
    if kind.namespaced() {
        check_namespace(state, kind, ns, &name)?;
    }
    let generate = util::meta_str(&obj, "generateName").to_string();
    let mut last_err = None;
    for _ in 0..8 {
        let generated = if name.is_empty() && !generate.is_empty() {
            format!("{generate}{}", util::name_suffix())
        } else {
            String::new()
        };
        let prepared = objects::prepare_create(kind, ns, obj.clone(), &generated)?;
        if dry_run {
            return Ok(Arc::new(prepared));
        }
        if let Some(a) = attempt {
            state
                .attempts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(util::uid(&prepared).to_string(), a);
        }
        match state.store.create(kind, prepared) {
            Ok(o) => return Ok(o),
            Err(e) if e.code == 409 && !generated.is_empty() => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| ApiError::internal("could not generate a unique name")))
}

fn dry_run(req: &Req) -> Result<bool, ApiError> {
    match req.q("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("Invalid dryRun parameter: {other}"))),
    }
}

fn with_warnings(mut r: Response<RespBody>, warnings: &[String]) -> Response<RespBody> {
    for w in warnings {
        body::add_warning(&mut r, w);
    }
    r
}

pub async fn collection(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: Option<&str>,
) -> Result<Response<RespBody>, ApiError> {
    match req.method {
        Method::GET | Method::HEAD => {
            let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or(""))?;
            let fields = FieldSelector::parse(kind, req.q("fieldSelector").unwrap_or(""))?;
            if req.q_bool("watch") {
                if state.refuse_watch {
                    let why = format!(
                        "User \"aslan-local\" cannot watch resource \"{}\" in API group \"{}\"{}",
                        kind.plural(),
                        kind.group(),
                        ns.map(|n| format!(" in the namespace \"{n}\"")).unwrap_or_default()
                    );
                    return Err(ApiError::forbidden(kind, "", &why));
                }
                return watch::watch(state, req, kind, ns.map(String::from), labels, fields).await;
            }
            list(state, req, kind, ns, &labels, &fields)
        }
        Method::POST => {
            if kind.namespaced() && ns.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let fv = FieldValidation::parse(req.q("fieldValidation"))?;
            let dry = dry_run(req)?;
            let (obj, warnings) = objects::canonicalize(kind, objects::parse_json(&req.body)?, fv)?;
            let created = create_object(state, kind, ns.unwrap_or(""), obj, dry, None)?;
            tracing::debug!(kind = kind.kind(), name = util::name(&created), "created");
            Ok(with_warnings(respond_object(req, kind, 201, &created), &warnings))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn list(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Result<Response<RespBody>, ApiError> {
    let (objs, rv) = state.store.list(kind, ns);
    let mut items: Vec<&Arc<Value>> = objs.iter().filter(|o| labels.matches(o) && fields.matches(o)).collect();
    // limit / continue: the continue token is the last (namespace, name) returned.
    let key = |o: &Value| format!("{}/{}", util::namespace(o), util::name(o));
    if let Some(cont) = req.q("continue").filter(|c| !c.is_empty()) {
        let after = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cont)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::bad_request("continue key is not valid: illegal base64 data"))?;
        items.retain(|o| key(o) > after);
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    let limit: usize = req.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    if limit > 0 && items.len() > limit {
        let remaining = items.len() - limit;
        items.truncate(limit);
        let last = key(items[limit - 1]);
        meta["continue"] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last).into();
        meta["remainingItemCount"] = (remaining as u64).into();
    }
    if req.wants_table() {
        let refs: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
        let mut t = table::table(kind, &refs, Some(rv), include_object(req), true);
        if let Some(c) = meta.get("continue") {
            t["metadata"]["continue"] = c.clone();
        }
        return Ok(body::json_with_type(200, &t, TABLE_CT));
    }
    let items: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut v = (***o).clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            v
        })
        .collect();
    Ok(body::json(
        200,
        &json!({"kind": format!("{}List", kind.kind()), "apiVersion": kind.api_version(), "metadata": meta, "items": items}),
    ))
}

fn get(state: &Shared, kind: Kind, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    state
        .store
        .get(kind, ns, name)
        .ok_or_else(|| ApiError::not_found(kind, name))
}

pub async fn item(state: &Shared, req: &Req, kind: Kind, ns: &str, name: &str) -> Result<Response<RespBody>, ApiError> {
    match req.method {
        Method::GET | Method::HEAD => Ok(respond_object(req, kind, 200, &*get(state, kind, ns, name)?)),
        Method::PUT => replace(state, req, kind, ns, name, false),
        Method::PATCH => patch(state, req, kind, ns, name, false),
        Method::DELETE => delete::handle_delete(state, req, kind, ns, name).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

pub async fn subresource(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: &str,
    name: &str,
    sub: &str,
) -> Result<Response<RespBody>, ApiError> {
    match (kind, sub) {
        (Kind::Pod, "log") => {
            if req.method != Method::GET {
                return Err(ApiError::method_not_allowed());
            }
            logs::pod_log(state, req, ns, name).await
        }
        (_, "status") => match req.method {
            Method::GET => Ok(respond_object(req, kind, 200, &*get(state, kind, ns, name)?)),
            Method::PUT => replace(state, req, kind, ns, name, true),
            Method::PATCH => patch(state, req, kind, ns, name, true),
            _ => Err(ApiError::method_not_allowed()),
        },
        _ => Err(ApiError::path_not_found()),
    }
}

fn replace(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: &str,
    name: &str,
    status_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let fv = FieldValidation::parse(req.q("fieldValidation"))?;
    let dry = dry_run(req)?;
    let (new, warnings) = objects::canonicalize(kind, objects::parse_json(&req.body)?, fv)?;
    let out = if dry {
        let cur = get(state, kind, ns, name)?;
        Arc::new(objects::prepare_update(kind, &cur, new, status_only)?)
    } else {
        state.store.update(kind, ns, name, |cur| {
            objects::prepare_update(kind, cur, new, status_only).map(Some)
        })?
    };
    Ok(with_warnings(respond_object(req, kind, 200, &out), &warnings))
}

fn patch(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: &str,
    name: &str,
    status_only: bool,
) -> Result<Response<RespBody>, ApiError> {
    let pt = PatchType::from_content_type(req.header("content-type"))?;
    let fv = FieldValidation::parse(req.q("fieldValidation"))?;
    let dry = dry_run(req)?;
    let p = objects::parse_json(&req.body)?;
    let mut warnings = Vec::new();
    let apply = |cur: &Value, warnings: &mut Vec<String>| -> Result<Value, ApiError> {
        let mut doc = cur.clone();
        match pt {
            PatchType::Merge => {
                if !p.is_object() {
                    return Err(ApiError::bad_request("json: cannot unmarshal the patch into an object"));
                }
                patch::merge_patch(&mut doc, &p)
            }
            PatchType::Json => patch::json_patch(&mut doc, &p)?,
        }
        let (doc, w) = objects::canonicalize(kind, doc, fv)?;
        *warnings = w;
        objects::prepare_update(kind, cur, doc, status_only)
    };
    let out = if dry {
        let cur = get(state, kind, ns, name)?;
        Arc::new(apply(&cur, &mut warnings)?)
    } else {
        state
            .store
            .update(kind, ns, name, |cur| apply(cur, &mut warnings).map(Some))?
    };
    Ok(with_warnings(respond_object(req, kind, 200, &out), &warnings))
}
