//! `arn:aws:states:::eks:call`: one Kubernetes REST call, answered as Step
//! Functions answers it: `{"ResponseBody", "StatusCode", "StatusText",
//! "Headers"}`, or the error `EKS.<status code>` with the cause
//! `{"ResponseBody", "StatusCode", "StatusText"}`.

use super::client::{send, Clients, Reply};
use super::params;
use crate::asl::StateError;
use crate::tasks::TaskContext;
use serde_json::{json, Map, Value};

/// Runs an `eks:call`.
pub async fn run(clients: &Clients, ctx: &TaskContext, parameters: &Value) -> Result<Value, StateError> {
    let c = params::call(parameters)?;
    let client = clients.get(&c.cluster, &ctx.region).await?;
    let target = with_query(&c.path, &c.query);
    let body = c.body.as_ref().map(|b| encode_body(b, &c.method));
    let reply = send(&client, &c.cluster, c.method.clone(), &target, body).await?;
    if reply.status.is_success() {
        Ok(result(&reply))
    } else {
        Err(api_error(&reply))
    }
}

/// `path?k=v&...`, percent-encoded.
pub fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    format!("{path}?{q}")
}

/// A `RequestBody` as bytes and a content type: JSON as JSON (a PATCH with
/// an object is a JSON merge patch, with an array a JSON patch); a string
/// as it is, as JSON if it parses as JSON and else as YAML (which the API
/// server also accepts).
fn encode_body(b: &Value, method: &http::Method) -> (Vec<u8>, &'static str) {
    let json_type = |v: &Value| match (method == http::Method::PATCH, v.is_array()) {
        (true, true) => "application/json-patch+json",
        (true, false) => "application/merge-patch+json",
        _ => "application/json",
    };
    match b {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => (s.clone().into_bytes(), json_type(&v)),
            Err(_) => (s.clone().into_bytes(), "application/yaml"),
        },
        v => (serde_json::to_vec(v).unwrap_or_default(), json_type(v)),
    }
}

/// The body as JSON when it parses, else as a string; `None` when empty.
pub fn body_value(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())))
}

/// `Content-Type`, `Audit-Id`: header names as Step Functions shows them.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn status_fields(reply: &Reply, out: &mut Map<String, Value>) {
    if let Some(b) = body_value(&reply.body) {
        out.insert("ResponseBody".into(), b);
    }
    out.insert("StatusCode".into(), json!(reply.status.as_u16()));
    out.insert(
        "StatusText".into(),
        json!(reply.status.canonical_reason().unwrap_or("")),
    );
}

/// A successful call's result.
pub fn result(reply: &Reply) -> Value {
    let mut out = Map::new();
    status_fields(reply, &mut out);
    let mut headers = Map::new();
    for (name, value) in &reply.headers {
        let list = headers
            .entry(title_case(name.as_str()))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = list {
            a.push(json!(String::from_utf8_lossy(value.as_bytes())));
        }
    }
    out.insert("Headers".into(), Value::Object(headers));
    Value::Object(out)
}

/// A non-2xx answer as Step Functions reports it: `EKS.401` with
/// `{"ResponseBody", "StatusCode", "StatusText"}` as the cause.
pub fn api_error(reply: &Reply) -> StateError {
    let mut cause = Map::new();
    status_fields(reply, &mut cause);
    StateError::new(
        format!("EKS.{}", reply.status.as_u16()),
        Value::Object(cause).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_headers_are_shaped_as_step_functions_shapes_them() {
        assert_eq!(
            with_query("/api/v1/pods", &[("labelSelector".into(), "job-name=a b".into())]),
            "/api/v1/pods?labelSelector=job-name%3Da+b"
        );
        let mut headers = http::HeaderMap::new();
        headers.append("content-type", "application/json".parse().unwrap());
        headers.append("warning", "a".parse().unwrap());
        headers.append("warning", "b".parse().unwrap());
        let r = Reply {
            status: http::StatusCode::OK,
            headers,
            body: b"{\"kind\":\"PodList\"}".to_vec(),
        };
        assert_eq!(
            result(&r),
            json!({"ResponseBody": {"kind": "PodList"}, "StatusCode": 200, "StatusText": "OK",
                   "Headers": {"Content-Type": ["application/json"], "Warning": ["a", "b"]}})
        );
    }

    #[test]
    fn a_401_is_eks_401_with_the_seed_cause() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
        let e = api_error(&Reply {
            status: http::StatusCode::UNAUTHORIZED,
            headers: http::HeaderMap::new(),
            body: body.to_vec(),
        });
        assert_eq!(e.error, "EKS.401");
        let cause: Value = serde_json::from_str(&e.cause).unwrap();
        assert_eq!(
            cause,
            json!({"ResponseBody": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401},
                   "StatusCode": 401, "StatusText": "Unauthorized"})
        );
    }

    #[test]
    fn bodies_get_the_content_type_the_api_server_expects() {
        let patch = http::Method::PATCH;
        assert_eq!(encode_body(&json!({"a": 1}), &patch).1, "application/merge-patch+json");
        assert_eq!(
            encode_body(&json!([{"op": "remove"}]), &patch).1,
            "application/json-patch+json"
        );
        assert_eq!(encode_body(&json!({"a": 1}), &http::Method::POST).1, "application/json");
        assert_eq!(
            encode_body(&json!("kind: ConfigMap"), &http::Method::POST).1,
            "application/yaml"
        );
        assert_eq!(
            encode_body(&json!("{\"kind\": \"ConfigMap\"}"), &http::Method::POST).1,
            "application/json"
        );
    }
}
