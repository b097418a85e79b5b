//! Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/batch/v1`, `/version`) and the
//! OpenAPI v3 documents kubectl reads to learn that the server validates fields itself.

use crate::kinds::Kind;
use serde_json::{json, Value};

/// The Kubernetes version the emulator claims.
pub const GIT_VERSION: &str = "v1.31.4";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "31",
        "gitVersion": GIT_VERSION,
        "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
        "gitTreeState": "clean",
        "buildDate": "2024-12-10T00:00:00Z",
        "goVersion": "go1.22.9",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]
    })
}

fn batch_group() -> Value {
    json!({
        "name": "batch",
        "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}
    })
}

pub fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [batch_group()]})
}

pub fn api_group(group: &str) -> Option<Value> {
    (group == "batch").then(|| {
        let mut g = batch_group();
        g["kind"] = "APIGroup".into();
        g["apiVersion"] = "v1".into();
        g
    })
}

fn resource(k: Kind) -> Value {
    let mut r = json!({
        "name": k.plural(),
        "singularName": k.singular(),
        "namespaced": k.namespaced(),
        "kind": k.kind(),
        "verbs": k.verbs(),
    });
    if !k.short_names().is_empty() {
        r["shortNames"] = json!(k.short_names());
    }
    if !k.categories().is_empty() {
        r["categories"] = json!(k.categories());
    }
    r
}

fn sub(k: Kind, sub: &str, verbs: &[&str]) -> Value {
    json!({"name": format!("{}/{sub}", k.plural()), "singularName": "", "namespaced": k.namespaced(), "kind": k.kind(), "verbs": verbs})
}

pub fn resource_list(group: &str) -> Option<Value> {
    let gv = match group {
        "" => "v1",
        "batch" => "batch/v1",
        _ => return None,
    };
    let mut resources = Vec::new();
    for k in Kind::in_group(group) {
        resources.push(resource(k));
        match k {
            Kind::Pod => {
                resources.push(sub(k, "log", &["get"]));
                resources.push(sub(k, "status", &["get", "patch", "update"]));
            }
            Kind::Job | Kind::Namespace => resources.push(sub(k, "status", &["get", "patch", "update"])),
            Kind::ConfigMap => {}
        }
    }
    resources.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// `/openapi/v3`: where each group version's document is.
pub fn openapi_v3_root() -> Value {
    json!({"paths": {
        "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=ASLANLOCALCLOUDV1"},
        "apis/batch/v1": {"serverRelativeURL": "/openapi/v3/apis/batch/v1?hash=ASLANLOCALCLOUDBATCHV1"}
    }})
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/batch/v1`: the operations of each kind, with the
/// `fieldValidation` parameter (so kubectl leaves validation to the server) and schemas for
/// kubectl's `apply` and `explain` to find by group-version-kind.
pub fn openapi_v3_group(group: &str) -> Option<Value> {
    if !group.is_empty() && group != "batch" {
        return None;
    }
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for k in Kind::in_group(group) {
        let gvk = json!([{"group": k.group(), "version": "v1", "kind": k.kind()}]);
        let prefix = if group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{group}/v1")
        };
        let (coll, item) = if k.namespaced() {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", k.plural()),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", k.plural()),
            )
        } else {
            (
                format!("{prefix}/{}", k.plural()),
                format!("{prefix}/{}/{{name}}", k.plural()),
            )
        };
        let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
            .iter()
            .map(|p| query_param(p))
            .collect();
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", k.kind()),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk[0],
            })
        };
        paths.insert(coll, json!({"post": op("post"), "get": op("list")}));
        paths.insert(
            item,
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        let schema_name = match k {
            Kind::Job => "io.k8s.api.batch.v1.Job".to_string(),
            _ => format!("io.k8s.api.core.v1.{}", k.kind()),
        };
        schemas.insert(
            schema_name,
            json!({"type": "object", "description": format!("{} (as served by aslan-local-cloud)", k.kind()), "x-kubernetes-group-version-kind": gvk}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas}
    }))
}
