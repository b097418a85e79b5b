//! Jobs, pods, logs, deletion, watches and EKS tokens against the in-process emulator.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

#[tokio::test]
async fn a_job_runs_to_complete_and_a_watch_sees_each_change() {
    let (h, c) = start_default().await;
    let r = c
        .post(
            JOBS,
            &job("ok", json!({"aslan.io/duration-ms": "100", "aslan.io/log": "hello"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let created = r.json();
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(
        created["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid.as_str()
    );

    let mut w = c
        .lines(&format!(
            "{JOBS}?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dok"
        ))
        .await;
    let mut seen = Vec::new();
    let mut last_rv = rv.parse::<u64>().unwrap();
    loop {
        let ev = next_event(&mut w, 10).await;
        assert_eq!(ev["type"], "MODIFIED");
        let this_rv: u64 = ev["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(this_rv > last_rv, "resourceVersions grow");
        last_rv = this_rv;
        let types = condition_types(&ev["object"]);
        seen.push(ev);
        if types.contains(&"Complete".to_string()) {
            break;
        }
    }
    let done = seen.last().unwrap()["object"].clone();
    assert_eq!(condition_types(&done), ["SuccessCriteriaMet", "Complete"]);
    for cond in done["status"]["conditions"].as_array().unwrap() {
        assert_eq!(cond["status"], "True");
        assert_eq!(cond["reason"], "CompletionsReached");
        assert_eq!(cond["message"], "Reached expected number of succeeded pods");
        assert!(cond["lastProbeTime"].is_string() && cond["lastTransitionTime"].is_string());
    }
    assert_eq!(done["status"]["succeeded"], 1);
    assert!(done["status"]["completionTime"].is_string());
    assert!(done["status"]["startTime"].is_string());
    assert_eq!(done["status"]["uncountedTerminatedPods"], json!({}));
    assert!(done["status"].get("active").is_none());
    // The event before SuccessCriteriaMet had the pod in uncountedTerminatedPods.
    assert!(seen
        .iter()
        .any(|e| e["object"]["status"]["uncountedTerminatedPods"]["succeeded"]
            .as_array()
            .is_some_and(|a| a.len() == 1)));
    assert!(seen.iter().any(|e| e["object"]["status"]["active"] == 1));

    // The pod.
    let pods = c
        .get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dok")
        .await
        .json();
    let pod = &pods["items"][0];
    let pname = pod["metadata"]["name"].as_str().unwrap();
    assert!(pname.starts_with("ok-") && pname.len() == 8);
    for l in [
        "job-name",
        "batch.kubernetes.io/job-name",
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
    ] {
        assert!(pod["metadata"]["labels"][l].is_string(), "{l}");
    }
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], uid.as_str());
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    assert_eq!(
        c.get(&format!("/api/v1/namespaces/default/pods/{pname}/log"))
            .await
            .text(),
        "hello\n"
    );

    // Emulator-only: when the Complete condition was set, with nanoseconds.
    let at = c.get("/debug/jobs/default/ok/completed-at").await;
    assert_eq!(at.status, 200);
    let t = at.text();
    assert!(
        t.ends_with('Z') && t.len() == "2024-01-01T00:00:00.000000000Z".len(),
        "{t}"
    );
    assert_eq!(h.job_finished_at("default", "ok").unwrap().0, "Complete");
    assert_eq!(c.get("/debug/jobs/default/nope/completed-at").await.status, 404);

    // Table columns as kubectl shows them.
    let t = c
        .call(
            "GET",
            JOBS,
            None,
            None,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await
        .json();
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Status", "Completions", "Duration", "Age"]);
    assert_eq!(t["rows"][0]["cells"][1], "Complete");
    assert_eq!(t["rows"][0]["cells"][2], "1/1");
    let t = c
        .call(
            "GET",
            "/api/v1/namespaces/default/pods",
            None,
            None,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await
        .json();
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(t["rows"][0]["cells"][2], "Completed");
}

#[tokio::test]
async fn completions_and_parallelism() {
    let (_h, c) = start_default().await;
    let mut j = job("multi", json!({"aslan.io/duration-ms": "30"}));
    j["spec"]["completions"] = 3.into();
    j["spec"]["parallelism"] = 2.into();
    c.post(JOBS, &j).await;
    let done = wait_finished(&c, "default", "multi").await;
    assert_eq!(condition_types(&done), ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(done["status"]["succeeded"], 3);
    let pods = c
        .get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dmulti")
        .await
        .json();
    assert_eq!(pods["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn backoff_limit_fails_the_job() {
    let (_h, c) = start_default().await;
    let mut j = job("bad", json!({"aslan.io/exit-code": "2", "aslan.io/duration-ms": "10"}));
    j["spec"]["backoffLimit"] = 1.into();
    c.post(JOBS, &j).await;
    let done = wait_finished(&c, "default", "bad").await;
    assert_eq!(condition_types(&done), ["FailureTarget", "Failed"]);
    for cond in done["status"]["conditions"].as_array().unwrap() {
        assert_eq!(cond["reason"], "BackoffLimitExceeded");
        assert_eq!(cond["message"], "Job has reached the specified backoff limit");
    }
    assert_eq!(done["status"]["failed"], 2);
    assert!(done["status"].get("completionTime").is_none());
    let pods = c
        .get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dbad")
        .await
        .json();
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| p["status"]["phase"] == "Failed"
        && p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
        && p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"));

    // The first attempts fail, then one succeeds: retries with new pods.
    let mut j = job(
        "flaky",
        json!({"aslan.io/fail-attempts": "2", "aslan.io/duration-ms": "10"}),
    );
    j["spec"]["backoffLimit"] = 3.into();
    c.post(JOBS, &j).await;
    let done = wait_finished(&c, "default", "flaky").await;
    assert_eq!(condition_types(&done), ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(done["status"]["failed"], 2);
    assert_eq!(done["status"]["succeeded"], 1);
}

#[tokio::test]
async fn active_deadline_exceeded() {
    let (_h, c) = start_default().await;
    let mut j = job("slow", json!({"aslan.io/duration-ms": "60000"}));
    j["spec"]["activeDeadlineSeconds"] = 1.into();
    c.post(JOBS, &j).await;
    let done = wait_finished(&c, "default", "slow").await;
    assert_eq!(condition_types(&done), ["FailureTarget", "Failed"]);
    assert_eq!(done["status"]["conditions"][1]["reason"], "DeadlineExceeded");
    assert_eq!(
        done["status"]["conditions"][1]["message"],
        "Job was active longer than specified deadline"
    );
    let pods = c
        .get("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dslow")
        .await
        .json();
    assert!(pods["items"].as_array().unwrap().is_empty());
}

async fn pod_of(c: &Client, job: &str) -> String {
    for _ in 0..200 {
        let pods = c
            .get(&format!(
                "/api/v1/namespaces/default/pods?labelSelector=job-name%3D{job}"
            ))
            .await
            .json();
        if let Some(n) = pods["items"][0]["metadata"]["name"].as_str() {
            return n.to_string();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no pod for {job}");
}

#[tokio::test]
async fn pod_logs_with_container_tail_and_limit() {
    let (_h, c) = start_default().await;
    let mut j = job(
        "logs",
        json!({"aslan.io/log.a": "line", "aslan.io/log-repeat.a": "5", "aslan.io/log.b": "bee", "aslan.io/duration-ms": "10"}),
    );
    j["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]);
    c.post(JOBS, &j).await;
    wait_finished(&c, "default", "logs").await;
    let p = pod_of(&c, "logs").await;
    let base = format!("/api/v1/namespaces/default/pods/{p}/log");
    let r = c.get(&base).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        format!("a container name must be specified for pod {p}, choose one of: [a b]")
    );
    assert_eq!(c.get(&format!("{base}?container=a")).await.text(), "line\n".repeat(5));
    assert_eq!(c.get(&format!("{base}?container=b")).await.text(), "bee\n");
    assert_eq!(
        c.get(&format!("{base}?container=a&tailLines=2")).await.text(),
        "line\nline\n"
    );
    assert_eq!(
        c.get(&format!("{base}?container=a&limitBytes=7")).await.text(),
        "line\nli"
    );
    let ts = c.get(&format!("{base}?container=b&timestamps=true")).await.text();
    assert!(ts.ends_with("Z bee\n"), "{ts}");
    assert_eq!(c.get(&format!("{base}?container=c")).await.status, 400);
    let r = c.get("/api/v1/namespaces/default/pods/nope/log").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "pods \"nope\" not found");

    // A container that has not started yet.
    c.post(JOBS, &job("waiting", json!({"aslan.io/start-delay-ms": "3000"})))
        .await;
    let p = pod_of(&c, "waiting").await;
    let r = c.get(&format!("/api/v1/namespaces/default/pods/{p}/log")).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        format!("container \"main\" in pod \"{p}\" is waiting to start: ContainerCreating")
    );

    // follow=true streams until the container exits.
    c.post(
        JOBS,
        &job("follow", json!({"aslan.io/duration-ms": "300", "aslan.io/log": "x"})),
    )
    .await;
    let p = pod_of(&c, "follow").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut lines = c
        .lines(&format!("/api/v1/namespaces/default/pods/{p}/log?follow=true"))
        .await;
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), lines.recv())
            .await
            .unwrap()
            .unwrap(),
        "x"
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), lines.recv())
            .await
            .unwrap(),
        None
    );
}

async fn pods_of_uid(c: &Client, uid: &str) -> Vec<serde_json::Value> {
    let l = c
        .get(&format!(
            "/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io%2Fcontroller-uid%3D{uid}"
        ))
        .await
        .json();
    l["items"].as_array().unwrap().clone()
}

async fn running_job(c: &Client, name: &str) -> String {
    let uid = c
        .post(JOBS, &job(name, json!({"aslan.io/duration-ms": "60000"})))
        .await
        .json()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    pod_of(c, name).await;
    uid
}

#[tokio::test]
async fn delete_with_each_propagation_policy() {
    let (_h, c) = start_default().await;
    // No policy: the Job goes, its pods stay (orphaned), with the real warning.
    let uid = running_job(&c, "orphan").await;
    let r = c.delete(&format!("{JOBS}/orphan")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "Success");
    assert_eq!(
        r.headers.get("warning").unwrap(),
        "299 - \"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning\""
    );
    assert_eq!(c.get(&format!("{JOBS}/orphan")).await.status, 404);
    let pods = pods_of_uid(&c, &uid).await;
    assert_eq!(pods.len(), 1);
    assert!(pods[0]["metadata"].get("ownerReferences").is_none());

    // Orphan, explicitly: no warning.
    running_job(&c, "orphan2").await;
    let r = c.delete(&format!("{JOBS}/orphan2?propagationPolicy=Orphan")).await;
    assert!(r.headers.get("warning").is_none());

    // Background: the Job at once, the pods after.
    let uid = running_job(&c, "bg").await;
    let r = c
        .call(
            "DELETE",
            &format!("{JOBS}/bg"),
            Some("application/json"),
            Some(json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}).to_string()),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("warning").is_none());
    assert_eq!(c.get(&format!("{JOBS}/bg")).await.status, 404);
    for _ in 0..100 {
        if pods_of_uid(&c, &uid).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(pods_of_uid(&c, &uid).await.is_empty());

    // Foreground: deletionTimestamp + foregroundDeletion first, then pods, then the Job.
    let uid = running_job(&c, "fg").await;
    let rv = c.get(&format!("{JOBS}/fg")).await.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut w = c.lines(&format!("{JOBS}?watch=true&resourceVersion={rv}")).await;
    let r = c.delete(&format!("{JOBS}/fg?propagationPolicy=Foreground")).await;
    assert_eq!(r.status, 202);
    let j = r.json();
    assert!(j["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(j["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    // The running Job's own status updates may come first (they raced
    // with the delete): the deletion is the MODIFIED that marks it.
    let mut ev = next_event(&mut w, 5).await;
    for _ in 0..10 {
        if !(ev["type"] == "MODIFIED" && ev["object"]["metadata"]["deletionTimestamp"].is_null()) {
            break;
        }
        ev = next_event(&mut w, 5).await;
    }
    assert_eq!(ev["type"], "MODIFIED");
    assert_eq!(ev["object"]["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    let ev = next_event(&mut w, 5).await;
    assert_eq!(ev["type"], "DELETED");
    assert!(pods_of_uid(&c, &uid).await.is_empty());

    // Deleting a running pod kills it; the Job replaces it.
    let uid = running_job(&c, "replace").await;
    let p = pod_of(&c, "replace").await;
    let r = c.delete(&format!("/api/v1/namespaces/default/pods/{p}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "Pod");
    for _ in 0..200 {
        let pods = pods_of_uid(&c, &uid).await;
        if pods.len() == 1 && pods[0]["metadata"]["name"] != p.as_str() {
            let j = c.get(&format!("{JOBS}/replace")).await.json();
            assert_eq!(j["status"]["failed"], 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the deleted pod was not replaced");
}

#[tokio::test]
async fn watches_replay_bookmark_and_expire() {
    let opts = aslan_local_cloud::Options {
        event_log_capacity: 8,
        ..Default::default()
    };
    let (_h, c) = start(opts).await;
    let cms = "/api/v1/namespaces/default/configmaps";
    // Without resourceVersion: synthetic ADDED for what exists.
    let mut w = c
        .lines(&format!("{cms}?watch=1&allowWatchBookmarks=true&timeoutSeconds=5"))
        .await;
    let ev = next_event(&mut w, 5).await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "kube-root-ca.crt");
    c.post(cms, &json!({"metadata": {"name": "one", "labels": {"a": "b"}}}))
        .await;
    let ev = next_event(&mut w, 5).await;
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "one");
    let ev = next_event(&mut w, 3).await;
    assert_eq!(ev["type"], "BOOKMARK");
    assert_eq!(ev["object"]["kind"], "ConfigMap");
    assert!(ev["object"]["metadata"]["resourceVersion"].is_string());

    // A label-selected watch sees an object leave its selection as DELETED.
    let mut sel = c.lines(&format!("{cms}?watch=1&labelSelector=a%3Db")).await;
    assert_eq!(next_event(&mut sel, 5).await["type"], "ADDED");
    c.patch(
        &format!("{cms}/one"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"a": "c"}}}),
    )
    .await;
    assert_eq!(next_event(&mut sel, 5).await["type"], "DELETED");

    // Too old: the event log only keeps 8 events.
    for i in 0..20 {
        c.post(cms, &json!({"metadata": {"name": format!("n{i}")}})).await;
    }
    let mut old = c.lines(&format!("{cms}?watch=1&resourceVersion=2")).await;
    let ev = next_event(&mut old, 5).await;
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(ev["object"]["message"]
        .as_str()
        .unwrap()
        .starts_with("too old resource version: 2 ("));
    // timeoutSeconds ends the stream.
    let mut short = c
        .lines(&format!("{cms}?watch=1&resourceVersion=0&timeoutSeconds=1"))
        .await;
    let end = tokio::time::timeout(Duration::from_secs(5), async { while short.recv().await.is_some() {} }).await;
    assert!(end.is_ok());
}

#[tokio::test]
async fn eks_tokens_are_verified() {
    let keys = aslan_local_cloud::eks_token::AwsKeys {
        access_key_id: "AKIDLOCAL".into(),
        secret_access_key: "secret".into(),
    };
    let opts = aslan_local_cloud::Options {
        aws_keys: Some(keys.clone()),
        eks_clusters: vec!["prod".into()],
        ..Default::default()
    };
    let (h, c) = start(opts).await;
    let now = std::time::SystemTime::now();
    let good = aslan_local_cloud::eks_token::make_token(&keys, "us-west-2", "prod", now);
    assert_eq!(c.with_token(Some(&good)).get("/api/v1/namespaces").await.status, 200);
    let other = aslan_local_cloud::eks_token::make_token(&keys, "us-west-2", "staging", now);
    assert_eq!(c.with_token(Some(&other)).get("/api/v1/namespaces").await.status, 401);
    h.register_eks_cluster("staging");
    assert_eq!(c.with_token(Some(&other)).get("/api/v1/namespaces").await.status, 200);
    let wrong = aslan_local_cloud::eks_token::AwsKeys {
        access_key_id: "AKIDLOCAL".into(),
        secret_access_key: "other".into(),
    };
    let forged = aslan_local_cloud::eks_token::make_token(&wrong, "us-west-2", "prod", now);
    assert_eq!(c.with_token(Some(&forged)).get("/api/v1/namespaces").await.status, 401);
}

#[tokio::test]
async fn run_processes_mode_runs_commands() {
    let opts = aslan_local_cloud::Options {
        run_processes: true,
        ..Default::default()
    };
    let (_h, c) = start(opts).await;
    let mut j = job("sh", json!({}));
    j["spec"]["backoffLimit"] = 0.into();
    j["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["sh", "-c"]);
    j["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["echo out; echo err >&2; exit 3"]);
    c.post(JOBS, &j).await;
    let done = wait_finished(&c, "default", "sh").await;
    assert_eq!(condition_types(&done), ["FailureTarget", "Failed"]);
    let p = pod_of(&c, "sh").await;
    let pod = c.get(&format!("/api/v1/namespaces/default/pods/{p}")).await.json();
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        3
    );
    let log = c.get(&format!("/api/v1/namespaces/default/pods/{p}/log")).await.text();
    assert!(log.contains("out\n") && log.contains("err\n"), "{log}");

    // Deleting the pod of a running Job kills its process.
    let mut j = job("sleeper", json!({}));
    j["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["sleep", "300"]);
    c.post(JOBS, &j).await;
    let p = pod_of(&c, "sleeper").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.delete(&format!("{JOBS}/sleeper?propagationPolicy=Background"))
            .await
            .status,
        200
    );
    for _ in 0..200 {
        if c.get(&format!("/api/v1/namespaces/default/pods/{p}")).await.status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ps = std::process::Command::new("pgrep").args(["-f", "^sleep 300$"]).output();
    if let Ok(out) = ps {
        assert!(out.stdout.is_empty(), "the process was not killed");
    }
}
