//! The Kubernetes API emulator, over HTTPS with its CA: status bodies, CRUD, patches, selectors,
//! tables, discovery.

mod common;

use common::*;
use serde_json::json;

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn unauthenticated_requests_get_the_real_401() {
    let (_h, c) = start_default().await;
    let want = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    for client in [c.with_token(None), c.with_token(Some("wrong"))] {
        let r = client.get("/api/v1/namespaces").await;
        assert_eq!(r.status, 401);
        assert_eq!(r.text().trim(), want);
    }
    assert_eq!(c.with_token(None).get("/healthz").await.text(), "ok");
    assert_eq!(c.get("/api/v1/namespaces").await.status, 200);
}

#[tokio::test]
async fn discovery_documents() {
    let (_h, c) = start_default().await;
    assert_eq!(c.get("/api").await.json()["versions"], json!(["v1"]));
    let groups = c.get("/apis").await.json();
    assert_eq!(groups["groups"][0]["name"], "batch");
    let v1 = c.get("/api/v1").await.json();
    let names: Vec<&str> = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"pods/log") && names.contains(&"configmaps") && names.contains(&"namespaces"));
    let batch = c.get("/apis/batch/v1").await.json();
    let jobs = batch["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "jobs")
        .unwrap()
        .clone();
    assert_eq!(jobs["kind"], "Job");
    assert_eq!(jobs["namespaced"], true);
    assert!(batch["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "jobs/status"));
    assert_eq!(c.get("/version").await.json()["major"], "1");
    let root = c.get("/openapi/v3").await.json();
    assert!(root["paths"]["apis/batch/v1"]["serverRelativeURL"].is_string());
}

#[tokio::test]
async fn configmap_crud_and_error_bodies() {
    let (_h, c) = start_default().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "v"}});
    let r = c.post(CMS, &cm).await;
    assert_eq!(r.status, 201);
    let created = r.json();
    assert!(created["metadata"]["uid"].is_string());
    assert!(created["metadata"]["creationTimestamp"].is_string());
    let rv: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let r = c.post(CMS, &cm).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.text().trim(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"a\" already exists","reason":"AlreadyExists","details":{"name":"a","kind":"configmaps"},"code":409}"#
    );
    let r = c.get(&format!("{CMS}/nope")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "configmaps \"nope\" not found");
    assert_eq!(
        c.get("/apis/batch/v1/namespaces/default/jobs/x").await.json()["message"],
        "jobs.batch \"x\" not found"
    );

    // generateName
    let r = c.post(CMS, &json!({"metadata": {"generateName": "gen-"}})).await;
    assert_eq!(r.status, 201);
    assert!(r.json()["metadata"]["name"].as_str().unwrap().starts_with("gen-"));

    // PUT with a stale resourceVersion: 409 Conflict; with the current one: a new version.
    let mut stale = created.clone();
    stale["data"]["k"] = "w".into();
    let r = c.put(&format!("{CMS}/a"), &stale).await;
    assert_eq!(r.status, 200);
    let rv2: u64 = r.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv);
    let r = c.put(&format!("{CMS}/a"), &stale).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
    assert_eq!(r.json()["message"], "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again");

    // Patches.
    let r = c
        .patch(
            &format!("{CMS}/a"),
            "application/merge-patch+json",
            &json!({"data": {"m": "1", "k": null}}),
        )
        .await;
    assert_eq!(r.json()["data"], json!({"m": "1"}));
    let r = c
        .patch(
            &format!("{CMS}/a"),
            "application/strategic-merge-patch+json",
            &json!({"metadata": {"labels": {"tier": "t"}}}),
        )
        .await;
    assert_eq!(r.json()["metadata"]["labels"], json!({"app": "x", "tier": "t"}));
    let r = c
        .patch(
            &format!("{CMS}/a"),
            "application/json-patch+json",
            &json!([{"op": "add", "path": "/data/j", "value": "2"}]),
        )
        .await;
    assert_eq!(r.json()["data"], json!({"m": "1", "j": "2"}));
    let r = c
        .patch(&format!("{CMS}/a"), "application/apply-patch+yaml", &json!({}))
        .await;
    assert_eq!(r.status, 415);

    // Selectors.
    let l = c
        .get(&format!("{CMS}?labelSelector=app%3Dx,tier%20in%20(t,u)"))
        .await
        .json();
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    assert!(l["metadata"]["resourceVersion"].is_string());
    let l = c.get(&format!("{CMS}?labelSelector=!app")).await.json();
    assert!(l["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["metadata"]["name"] != "a"));
    let l = c.get(&format!("{CMS}?fieldSelector=metadata.name%3Da")).await.json();
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    let l = c
        .get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dkube-system")
        .await
        .json();
    assert_eq!(l["items"][0]["metadata"]["name"], "kube-root-ca.crt");
    assert_eq!(c.get(&format!("{CMS}?fieldSelector=data.k%3Dv")).await.status, 400);

    // Tables.
    let t = c
        .call(
            "GET",
            CMS,
            None,
            None,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        )
        .await
        .json();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Data", "Age"]);

    // Bad bodies, methods and namespaces.
    let r = c
        .call("POST", CMS, Some("application/json"), Some("{nope".into()), None)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["reason"], "BadRequest");
    assert_eq!(c.call("PUT", CMS, None, None, None).await.status, 405);
    assert_eq!(
        c.call(
            "POST",
            "/api/v1/pods",
            Some("application/json"),
            Some("{}".into()),
            None
        )
        .await
        .status,
        405
    );
    let r = c
        .post(
            "/api/v1/namespaces/nope/configmaps",
            &json!({"metadata": {"name": "x"}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "namespaces \"nope\" not found");
    let r = c.delete("/api/v1/namespaces/default").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
    let big = "x".repeat(4 * 1024 * 1024);
    let r = c
        .post(CMS, &json!({"metadata": {"name": "big"}, "data": {"k": big}}))
        .await;
    assert_eq!(r.status, 413);

    let r = c.delete(&format!("{CMS}/a")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "Success");
    assert_eq!(c.get(&format!("{CMS}/a")).await.status, 404);
}

#[tokio::test]
async fn invalid_objects_get_422_with_causes() {
    let (_h, c) = start_default().await;
    let r = c.post(JOBS, &json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never"}}}})).await;
    assert_eq!(r.status, 422);
    let s = r.json();
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(
        s["message"],
        "Job.batch \"j\" is invalid: spec.template.spec.containers: Required value"
    );
    assert_eq!(
        s["details"],
        json!({"name": "j", "group": "batch", "kind": "Job", "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.spec.containers"}]})
    );
    let r = c.post(CMS, &json!({"metadata": {"name": "Bad_Name"}})).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["details"]["causes"][0]["field"], "metadata.name");
    let r = c
        .call(
            "POST",
            &format!("{CMS}?fieldValidation=Strict"),
            Some("application/json"),
            Some(json!({"metadata": {"name": "s"}, "bogus": 1}).to_string()),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .ends_with("strict decoding error: unknown field \"bogus\""));
    let r = c.post(CMS, &json!({"metadata": {"name": "w"}, "bogus": 1})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.headers.get("warning").unwrap(),
        "299 - \"unknown field \\\"bogus\\\"\""
    );
}

#[tokio::test]
async fn namespaces_lifecycle() {
    let (_h, c) = start_default().await;
    let names: Vec<String> = c.get("/api/v1/namespaces").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    for n in ["default", "kube-system", "kube-public"] {
        assert!(names.contains(&n.to_string()));
    }
    assert_eq!(
        c.post("/api/v1/namespaces", &json!({"metadata": {"name": "team"}}))
            .await
            .status,
        201
    );
    assert_eq!(
        c.post(
            "/api/v1/namespaces/team/configmaps",
            &json!({"metadata": {"name": "x"}})
        )
        .await
        .status,
        201
    );
    let r = c.delete("/api/v1/namespaces/team").await;
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    for _ in 0..100 {
        if c.get("/api/v1/namespaces/team").await.status == 404 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("namespace was not deleted");
}
