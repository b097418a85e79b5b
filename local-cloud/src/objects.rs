//! Decoding, defaulting and validating objects as the API server does before storing them.
//!
//! Bodies go through the `k8s-openapi` type of their kind (so wrongly typed fields are refused
//! and unknown fields are pruned, as a real server does), then the kind's defaults and
//! validation rules are applied on the JSON.

use crate::kinds::Kind;
use crate::status::{ApiError, Cause};
use crate::util;
use serde_json::{json, Map, Value};

/// `?fieldValidation=`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<FieldValidation, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are \"Ignore\", \"Warn\", \"Strict\""
            ))),
        }
    }
}

/// Parses a JSON body.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}")))
}

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(kind: Kind, v: Value) -> Result<Value, ApiError> {
    let typed: T = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"v1\" cannot be handled as a {}: {e}",
            kind.kind(),
            kind.kind()
        ))
    })?;
    serde_json::to_value(typed).map_err(|e| ApiError::internal(e.to_string()))
}

fn unknown_fields(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    None if !v.is_null() => out.push(p),
                    Some(ov) => unknown_fields(v, ov, &p, out),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                unknown_fields(iv, ov, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

/// Decodes a body into the kind's canonical JSON. Returns the object and warnings
/// (unknown fields under `fieldValidation=Warn`).
pub fn canonicalize(kind: Kind, mut v: Value, fv: FieldValidation) -> Result<(Value, Vec<String>), ApiError> {
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body: not a JSON object",
        ));
    };
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if av != kind.api_version() => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                kind.api_version()
            )))
        }
        _ => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k != kind.kind() => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                kind.kind()
            )))
        }
        _ => {}
    }
    obj.insert("apiVersion".into(), kind.api_version().into());
    obj.insert("kind".into(), kind.kind().into());
    let input = v.clone();
    let out = match kind {
        Kind::Namespace => roundtrip::<k8s_openapi::api::core::v1::Namespace>(kind, v)?,
        Kind::ConfigMap => roundtrip::<k8s_openapi::api::core::v1::ConfigMap>(kind, v)?,
        Kind::Pod => roundtrip::<k8s_openapi::api::core::v1::Pod>(kind, v)?,
        Kind::Job => roundtrip::<k8s_openapi::api::batch::v1::Job>(kind, v)?,
    };
    let mut unknown = Vec::new();
    if fv != FieldValidation::Ignore {
        unknown_fields(&input, &out, "", &mut unknown);
    }
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|u| format!("unknown field \"{u}\"")).collect();
        if fv == FieldValidation::Strict {
            return Err(ApiError::bad_request(format!(
                "{} in version \"v1\" cannot be handled as a {}: strict decoding error: {}",
                kind.kind(),
                kind.kind(),
                list.join(", ")
            )));
        }
        warnings = list;
    }
    Ok((out, warnings))
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Validates a name as the kind requires; returns causes.
pub fn validate_name(kind: Kind, name: &str, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let v = Value::String(name.to_string());
    match kind {
        Kind::Namespace => {
            if name.len() > 63 {
                causes.push(Cause::invalid(field, &v, "must be no more than 63 characters"));
            } else if !is_dns_label(name) {
                causes.push(Cause::invalid(field, &v, LABEL_MSG));
            }
        }
        _ => {
            if !is_dns_subdomain(name) {
                causes.push(Cause::invalid(field, &v, SUBDOMAIN_MSG));
            }
            if kind == Kind::Job && name.len() > 63 && is_dns_subdomain(name) {
                causes.push(Cause::invalid(field, &v, "must be no more than 63 characters"));
            }
        }
    }
    causes
}

fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric())
}

fn validate_labels(labels: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(m) = labels.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in m {
        let name = k.rsplit('/').next().unwrap_or("");
        if name.is_empty() || name.len() > 63 || !valid_label_value(name) {
            causes.push(Cause::invalid(field, &Value::String(k.clone()), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
        }
        let s = v.as_str().unwrap_or("");
        if !valid_label_value(s) {
            causes.push(Cause::invalid(field, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
        }
    }
}

fn set_default(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.into(), v);
    }
}

/// Pod spec defaults (as the API server's defaulting sets them).
fn default_pod_spec(spec: &mut Value, default_restart: &str) {
    let Some(s) = spec.as_object_mut() else { return };
    set_default(s, "restartPolicy", default_restart.into());
    set_default(s, "terminationGracePeriodSeconds", 30.into());
    set_default(s, "dnsPolicy", "ClusterFirst".into());
    set_default(s, "securityContext", json!({}));
    set_default(s, "schedulerName", "default-scheduler".into());
    if let Some(cs) = s.get_mut("containers").and_then(Value::as_array_mut) {
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let tagless = !image.rsplit('/').next().unwrap_or("").contains(':') && !image.contains('@');
            let policy = if tagless || image.ends_with(":latest") {
                "Always"
            } else {
                "IfNotPresent"
            };
            set_default(c, "imagePullPolicy", policy.into());
            set_default(c, "resources", json!({}));
            set_default(c, "terminationMessagePath", "/dev/termination-log".into());
            set_default(c, "terminationMessagePolicy", "File".into());
        }
    }
}

fn validate_pod_spec(spec: Option<&Value>, prefix: &str, causes: &mut Vec<Cause>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(Cause::required(&format!("{prefix}.containers"), ""));
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let f = format!("{prefix}.containers[{i}].name");
        if name.is_empty() {
            causes.push(Cause::required(&f, ""));
        } else if !is_dns_label(name) {
            causes.push(Cause::invalid(&f, &Value::String(name.into()), LABEL_MSG));
        } else if !seen.insert(name.to_string()) {
            causes.push(Cause {
                reason: "FieldValueDuplicate",
                message: format!("Duplicate value: \"{name}\""),
                field: f,
            });
        }
        if c.get("image").and_then(Value::as_str).unwrap_or("").trim().is_empty() {
            causes.push(Cause::required(&format!("{prefix}.containers[{i}].image"), ""));
        }
    }
}

/// Prepares a new object for storing: namespace, name (or generateName), uid, timestamps,
/// defaults, validation. `ns` is the namespace from the URL ("" for cluster-scoped kinds).
pub fn prepare_create(kind: Kind, ns: &str, mut obj: Value, generated_name: &str) -> Result<Value, ApiError> {
    let name_in = util::name(&obj).to_string();
    let body_ns = util::namespace(&obj).to_string();
    if kind.namespaced() && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if !util::meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = if name_in.is_empty() {
        generated_name.to_string()
    } else {
        name_in
    };
    let uid = util::new_uid();
    {
        let m = util::meta_mut(&mut obj);
        m.insert("name".into(), name.clone().into());
        if kind.namespaced() {
            m.insert("namespace".into(), ns.into());
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), uid.clone().into());
        m.insert("creationTimestamp".into(), util::now_rfc3339().into());
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ] {
            m.remove(k);
        }
        if matches!(kind, Kind::Job | Kind::Pod) {
            m.insert("generation".into(), 1.into());
        } else {
            m.remove("generation");
        }
    }
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(Cause::required("metadata.name", "name or generateName is required"));
    } else {
        causes.extend(validate_name(kind, &name, "metadata.name"));
    }
    validate_labels(obj.pointer("/metadata/labels"), "metadata.labels", &mut causes);
    match kind {
        Kind::Namespace => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            if let Some(m) = util::meta_mut(&mut obj)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
            {
                m.insert("kubernetes.io/metadata.name".into(), name.clone().into());
            }
        }
        Kind::ConfigMap => {}
        Kind::Pod => {
            validate_pod_spec(obj.get("spec"), "spec", &mut causes);
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec, "Always");
                if let Some(s) = spec.as_object_mut() {
                    set_default(s, "enableServiceLinks", true.into());
                    set_default(s, "priority", 0.into());
                    set_default(s, "preemptionPolicy", "PreemptLowerPriority".into());
                }
            }
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        Kind::Job => prepare_job(&mut obj, &name, &uid, &mut causes),
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(kind, &name, causes));
    }
    Ok(obj)
}

fn prepare_job(obj: &mut Value, name: &str, uid: &str, causes: &mut Vec<Cause>) {
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
        o.insert("status".into(), json!({}));
    }
    let spec = obj
        .as_object_mut()
        .expect("object")
        .entry("spec")
        .or_insert_with(|| json!({}));
    let Some(s) = spec.as_object_mut() else { return };
    let manual = s.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && s.get("selector").is_some_and(|v| !v.is_null()) {
        causes.push(Cause::invalid(
            "spec.selector",
            &s["selector"],
            "`selector` will be auto-generated",
        ));
    }
    for f in ["parallelism", "completions", "backoffLimit"] {
        if let Some(n) = s.get(f).and_then(Value::as_i64) {
            if n < 0 {
                causes.push(Cause::invalid(
                    &format!("spec.{f}"),
                    &s[f],
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    if let Some(n) = s.get("activeDeadlineSeconds").and_then(Value::as_i64) {
        if n <= 0 {
            causes.push(Cause::invalid(
                "spec.activeDeadlineSeconds",
                &s["activeDeadlineSeconds"],
                "must be greater than 0",
            ));
        }
    }
    // Defaults (batch/v1 SetDefaults_Job).
    if s.get("completions").is_none() && s.get("parallelism").is_none() {
        s.insert("completions".into(), 1.into());
        s.insert("parallelism".into(), 1.into());
    }
    set_default(s, "parallelism", 1.into());
    set_default(s, "backoffLimit", 6.into());
    set_default(s, "completionMode", "NonIndexed".into());
    set_default(s, "suspend", false.into());
    set_default(s, "podReplacementPolicy", "TerminatingOrFailed".into());
    if !manual {
        s.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    let template = s.entry("template").or_insert_with(|| json!({}));
    if !template.is_object() {
        *template = json!({});
    }
    {
        let t = template.as_object_mut().expect("object");
        let meta = t.entry("metadata").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        let labels = meta
            .as_object_mut()
            .expect("object")
            .entry("labels")
            .or_insert_with(|| json!({}));
        if let (false, Some(l)) = (manual, labels.as_object_mut()) {
            l.insert("batch.kubernetes.io/controller-uid".into(), uid.into());
            l.insert("batch.kubernetes.io/job-name".into(), name.into());
            l.insert("controller-uid".into(), uid.into());
            l.insert("job-name".into(), name.into());
        }
    }
    let tspec = template.get("spec");
    validate_pod_spec(tspec, "spec.template.spec", causes);
    match tspec.and_then(|t| t.get("restartPolicy")).and_then(Value::as_str) {
        None => causes.push(Cause::required(
            "spec.template.spec.restartPolicy",
            "valid values: \"OnFailure\", \"Never\"",
        )),
        Some("Never" | "OnFailure") => {}
        Some(other) => causes.push(Cause::unsupported(
            "spec.template.spec.restartPolicy",
            other,
            &["OnFailure", "Never"],
        )),
    }
    if let Some(ts) = template.get_mut("spec") {
        default_pod_spec(ts, "Never");
    }
}

/// Prepares a replacement (PUT or patched) object: identity and server-owned fields are kept
/// from `cur`; `status` too unless `status_only`, where only `status` is taken from `new`.
pub fn prepare_update(kind: Kind, cur: &Value, mut new: Value, status_only: bool) -> Result<Value, ApiError> {
    let name = util::name(cur).to_string();
    let new_name = util::name(&new);
    if !new_name.is_empty() && new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    let new_ns = util::namespace(&new);
    if kind.namespaced() && !new_ns.is_empty() && new_ns != util::namespace(cur) {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let rv = util::meta_str(&new, "resourceVersion");
    if !rv.is_empty() && rv != util::meta_str(cur, "resourceVersion") {
        return Err(ApiError::conflict(kind, &name));
    }
    if status_only {
        let mut out = cur.clone();
        out["status"] = new.get("status").cloned().unwrap_or(json!({}));
        return Ok(out);
    }
    {
        let cm = cur.get("metadata").cloned().unwrap_or(json!({}));
        let m = util::meta_mut(&mut new);
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match cm.get(k) {
                Some(v) => {
                    m.insert(k.into(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    let mut causes = Vec::new();
    validate_labels(new.pointer("/metadata/labels"), "metadata.labels", &mut causes);
    match kind {
        Kind::Namespace => {
            new["spec"] = cur.get("spec").cloned().unwrap_or(json!({}));
        }
        Kind::ConfigMap => {}
        Kind::Pod => {
            if let Some(spec) = new.get_mut("spec") {
                default_pod_spec(spec, "Always");
            }
            if new.get("spec") != cur.get("spec") {
                causes.push(Cause::invalid("spec", &json!("object"), "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
            }
        }
        Kind::Job => {
            if let Some(ts) = new.pointer_mut("/spec/template/spec") {
                default_pod_spec(ts, "Never");
            }
            if let Some(s) = new.get_mut("spec").and_then(Value::as_object_mut) {
                set_default(s, "parallelism", 1.into());
                set_default(s, "backoffLimit", 6.into());
                set_default(s, "completionMode", "NonIndexed".into());
                set_default(s, "suspend", false.into());
                set_default(s, "podReplacementPolicy", "TerminatingOrFailed".into());
            }
            for f in ["selector", "template", "completions", "completionMode"] {
                let (a, b) = (cur.pointer(&format!("/spec/{f}")), new.pointer(&format!("/spec/{f}")));
                if a != b {
                    causes.push(Cause::immutable(&format!("spec.{f}"), b.unwrap_or(&Value::Null)));
                }
            }
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(kind, &name, causes));
    }
    if kind != Kind::ConfigMap {
        if let Some(st) = cur.get("status") {
            new["status"] = st.clone();
        }
    }
    if matches!(kind, Kind::Job | Kind::Pod) && new.get("spec") != cur.get("spec") {
        let g = cur.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1) + 1;
        util::meta_mut(&mut new).insert("generation".into(), g.into());
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_found_and_strict_refuses_them() {
        let v =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}, "bogus": 1});
        let (_, w) = canonicalize(Kind::ConfigMap, v.clone(), FieldValidation::Warn).unwrap();
        assert_eq!(w, vec!["unknown field \"bogus\"".to_string()]);
        let e = canonicalize(Kind::ConfigMap, v, FieldValidation::Strict).unwrap_err();
        assert_eq!(e.message, "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\"");
    }

    #[test]
    fn jobs_get_selector_labels_and_defaults() {
        let v = json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34.0"}]}}}});
        let (v, _) = canonicalize(Kind::Job, v, FieldValidation::Strict).unwrap();
        let j = prepare_create(Kind::Job, "default", v, "").unwrap();
        let uid = util::uid(&j).to_string();
        assert_eq!(
            j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            uid.as_str()
        );
        assert_eq!(j["spec"]["template"]["metadata"]["labels"]["job-name"], "pi");
        assert_eq!(j["spec"]["backoffLimit"], 6);
        assert_eq!(j["spec"]["completions"], 1);
        assert_eq!(
            j["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn jobs_without_containers_are_invalid() {
        let v = json!({"metadata": {"name": "Bad_Name"}, "spec": {"template": {"spec": {"restartPolicy": "Always"}}}});
        let e = prepare_create(Kind::Job, "default", v, "").unwrap_err();
        assert_eq!(e.code, 422);
        let causes = e.details.unwrap()["causes"].as_array().unwrap().len();
        assert_eq!(causes, 3, "{}", e.message);
    }
}
