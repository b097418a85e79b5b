//! The EKS REST API: every operation, status transitions with their delays, clientRequestToken
//! idempotency, the errors as EKS sends them, SigV4, and clusters pointing at the emulated
//! Kubernetes API (EKS tokens for a created cluster's name are accepted there).

use aslan_local_cloud::eks_token::{make_token, AwsKeys};
use aslan_local_cloud::{Handle, Options};
use base64::Engine;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/eks-node";
const ERR_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazonaws.eks/";

struct Resp {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
}

impl Resp {
    fn error_type(&self) -> &str {
        self.headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an EKS error: status, `X-Amzn-ErrorType`, message.
    fn assert_error(&self, status: u16, name: &str, message: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.error_type(), format!("{name}{ERR_SUFFIX}"), "{}", self.body);
        assert_eq!(self.body["message"], message, "{}", self.body);
    }
}

struct Eks {
    addr: std::net::SocketAddr,
    keys: Option<AwsKeys>,
}

impl Eks {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let host = self.addr.to_string();
        let mut headers = vec![("host".to_string(), host.clone())];
        if !body.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        if let Some(keys) = &self.keys {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let extra = aslan_local_cloud::eks::sigv4::sign_request(
                keys,
                "eu-west-1",
                method,
                &format!("http://{host}{path}"),
                &hs,
                body.as_bytes(),
                SystemTime::now(),
            );
            headers.extend(extra);
        }
        self.raw(method, path, &headers, body).await
    }

    async fn raw(&self, method: &str, path: &str, headers: &[(String, String)], body: String) -> Resp {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let r = sender
            .send_request(b.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        Resp { status, headers, body }
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None).await
    }

    /// Polls `path` until `pick(body)` is `want`.
    async fn wait_for(&self, path: &str, pick: impl Fn(&Value) -> Value, want: Value) -> Value {
        for _ in 0..400 {
            let r = self.get(path).await;
            if r.status == 200 && pick(&r.body) == want {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{path} never reached {want}");
    }

    async fn wait_gone(&self, path: &str) {
        for _ in 0..400 {
            if self.get(path).await.status == 404 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{path} was never deleted");
    }
}

fn opts(create_ms: u64, delete_ms: u64) -> Options {
    Options {
        aws_keys: None,
        eks_create_delay: Duration::from_millis(create_ms),
        eks_delete_delay: Duration::from_millis(delete_ms),
        ..Options::default()
    }
}

async fn start(o: Options) -> (Handle, Eks) {
    let keys = o.aws_keys.clone();
    let h = aslan_local_cloud::start(o).await.expect("start");
    let e = Eks { addr: h.eks_addr, keys };
    (h, e)
}

fn cluster_req(name: &str) -> Value {
    json!({"name": name, "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": ["subnet-1", "subnet-2"]}})
}

fn nodegroup_req(name: &str) -> Value {
    json!({"nodegroupName": name, "nodeRole": NODE_ROLE, "subnets": ["subnet-1"]})
}

fn fargate_req(name: &str) -> Value {
    json!({"fargateProfileName": name, "podExecutionRoleArn": ROLE, "selectors": [{"namespace": "default"}]})
}

async fn active_cluster(e: &Eks, name: &str) -> Value {
    assert_eq!(e.post("/clusters", cluster_req(name)).await.status, 200);
    e.wait_for(
        &format!("/clusters/{name}"),
        |b| b["cluster"]["status"].clone(),
        json!("ACTIVE"),
    )
    .await
}

#[tokio::test]
async fn the_ready_line_names_both_endpoints() {
    let (h, _e) = start(opts(10, 10)).await;
    let v: Value = serde_json::from_str(&h.ready_line()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["kubernetes", "eks"]);
    assert_eq!(v["eks"], json!({"endpoint": format!("http://{}", h.eks_addr)}));
    assert!(h.eks_endpoint.starts_with("http://127.0.0.1:"));
    assert_eq!(v["kubernetes"]["endpoint"], h.endpoint);
}

#[tokio::test]
async fn cluster_lifecycle_with_delays() {
    let (h, e) = start(opts(200, 200)).await;
    let mut req = cluster_req("demo");
    req["tags"] = json!({"team": "a"});
    req["logging"] = json!({"clusterLogging": [{"types": ["api"], "enabled": true}]});
    req["accessConfig"] = json!({"authenticationMode": "API"});
    req["kubernetesNetworkConfig"] = json!({"serviceIpv4Cidr": "172.20.0.0/16"});
    let t0 = std::time::Instant::now();
    let r = e.post("/clusters", req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let c = &r.body["cluster"];
    assert_eq!(c["name"], "demo");
    assert_eq!(c["arn"], "arn:aws:eks:us-east-1:123456789012:cluster/demo");
    assert_eq!(c["status"], "CREATING");
    assert_eq!(c["version"], "1.31");
    assert_eq!(c["roleArn"], ROLE);
    assert!(c["createdAt"].is_number());
    assert!(c["platformVersion"].as_str().unwrap().starts_with("eks."));
    assert_eq!(c["resourcesVpcConfig"]["subnetIds"], json!(["subnet-1", "subnet-2"]));
    assert!(c["resourcesVpcConfig"]["vpcId"].as_str().unwrap().starts_with("vpc-"));
    assert!(c["resourcesVpcConfig"]["clusterSecurityGroupId"]
        .as_str()
        .unwrap()
        .starts_with("sg-"));
    assert_eq!(c["resourcesVpcConfig"]["endpointPublicAccess"], true);
    assert_eq!(c["resourcesVpcConfig"]["endpointPrivateAccess"], false);
    assert_eq!(c["kubernetesNetworkConfig"]["serviceIpv4Cidr"], "172.20.0.0/16");
    assert_eq!(c["kubernetesNetworkConfig"]["ipFamily"], "ipv4");
    assert_eq!(c["logging"]["clusterLogging"][0]["types"], json!(["api"]));
    assert_eq!(c["accessConfig"]["authenticationMode"], "API");
    assert_eq!(c["accessConfig"]["bootstrapClusterCreatorAdminPermissions"], true);
    assert_eq!(c["tags"], json!({"team": "a"}));
    assert_eq!(c["health"], json!({"issues": []}));
    assert!(c["identity"]["oidc"]["issuer"]
        .as_str()
        .unwrap()
        .starts_with("https://oidc.eks.us-east-1.amazonaws.com/id/"));
    assert!(c.get("endpoint").is_none(), "no endpoint while CREATING");
    assert!(h.eks_cluster_names().contains(&"demo".to_string()));

    // Still CREATING before the delay.
    assert_eq!(e.get("/clusters/demo").await.body["cluster"]["status"], "CREATING");
    let c = e
        .wait_for("/clusters/demo", |b| b["cluster"]["status"].clone(), json!("ACTIVE"))
        .await;
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(c["cluster"]["endpoint"], h.endpoint);
    let ca = base64::engine::general_purpose::STANDARD
        .decode(c["cluster"]["certificateAuthority"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(ca).unwrap(), h.ca_pem);

    let l = e.get("/clusters").await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body, json!({"clusters": ["demo"]}));

    let t1 = std::time::Instant::now();
    let d = e.delete("/clusters/demo").await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body["cluster"]["status"], "DELETING");
    assert_eq!(e.get("/clusters/demo").await.body["cluster"]["status"], "DELETING");
    e.wait_gone("/clusters/demo").await;
    assert!(t1.elapsed() >= Duration::from_millis(200));
    assert!(!h.eks_cluster_names().contains(&"demo".to_string()));
    assert_eq!(e.get("/clusters").await.body, json!({"clusters": []}));
}

#[tokio::test]
async fn list_clusters_pages() {
    let (_h, e) = start(opts(10, 10)).await;
    for n in ["c", "a", "b"] {
        assert_eq!(e.post("/clusters", cluster_req(n)).await.status, 200);
    }
    let p1 = e.get("/clusters?maxResults=2").await.body;
    assert_eq!(p1["clusters"], json!(["a", "b"]));
    let token = p1["nextToken"].as_str().unwrap().to_string();
    let p2 = e.get(&format!("/clusters?maxResults=2&nextToken={token}")).await.body;
    assert_eq!(p2, json!({"clusters": ["c"]}));
    e.get("/clusters?maxResults=0").await.assert_error(
        400,
        "InvalidParameterException",
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
}

#[tokio::test]
async fn node_groups_and_fargate_profiles() {
    let (_h, e) = start(opts(100, 100)).await;
    // The cluster is CREATING: no node groups or Fargate profiles yet.
    assert_eq!(e.post("/clusters", cluster_req("demo")).await.status, 200);
    let r = e.post("/clusters/demo/node-groups", nodegroup_req("ng")).await;
    r.assert_error(400, "InvalidRequestException", "Cluster 'demo' is not in ACTIVE status");
    assert_eq!(r.body["clusterName"], "demo");
    e.post("/clusters/demo/fargate-profiles", fargate_req("fp"))
        .await
        .assert_error(400, "InvalidRequestException", "Cluster 'demo' is not in ACTIVE status");
    e.wait_for("/clusters/demo", |b| b["cluster"]["status"].clone(), json!("ACTIVE"))
        .await;

    let mut ngreq = nodegroup_req("ng");
    ngreq["labels"] = json!({"role": "worker"});
    ngreq["scalingConfig"] = json!({"minSize": 1, "maxSize": 3, "desiredSize": 1});
    ngreq["instanceTypes"] = json!(["m5.large"]);
    ngreq["tags"] = json!({"k": "v"});
    let r = e.post("/clusters/demo/node-groups", ngreq).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ng = &r.body["nodegroup"];
    assert_eq!(ng["nodegroupName"], "ng");
    assert_eq!(ng["clusterName"], "demo");
    assert_eq!(ng["status"], "CREATING");
    assert!(ng["nodegroupArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:eks:us-east-1:123456789012:nodegroup/demo/ng/"));
    assert_eq!(
        ng["scalingConfig"],
        json!({"minSize": 1, "maxSize": 3, "desiredSize": 1})
    );
    assert_eq!(ng["instanceTypes"], json!(["m5.large"]));
    assert_eq!(ng["amiType"], "AL2023_x86_64_STANDARD");
    assert_eq!(ng["capacityType"], "ON_DEMAND");
    assert_eq!(ng["diskSize"], 20);
    assert_eq!(ng["subnets"], json!(["subnet-1"]));
    assert_eq!(ng["nodeRole"], NODE_ROLE);
    assert_eq!(ng["labels"], json!({"role": "worker"}));
    assert_eq!(ng["version"], "1.31");
    assert!(ng["releaseVersion"].as_str().unwrap().starts_with("1.31"));
    assert!(ng["resources"]["autoScalingGroups"][0]["name"]
        .as_str()
        .unwrap()
        .starts_with("eks-ng-"));
    assert_eq!(ng["health"], json!({"issues": []}));
    assert!(ng["createdAt"].is_number() && ng["modifiedAt"].is_number());
    // Defaults.
    let r = e.post("/clusters/demo/node-groups", nodegroup_req("ng2")).await;
    assert_eq!(
        r.body["nodegroup"]["scalingConfig"],
        json!({"minSize": 2, "maxSize": 2, "desiredSize": 2})
    );
    assert_eq!(r.body["nodegroup"]["instanceTypes"], json!(["t3.medium"]));

    let r = e.post("/clusters/demo/node-groups", nodegroup_req("ng")).await;
    r.assert_error(
        409,
        "ResourceInUseException",
        "NodeGroup already exists with name ng and cluster name demo",
    );
    assert_eq!(r.body["nodegroupName"], "ng");
    e.wait_for(
        "/clusters/demo/node-groups/ng",
        |b| b["nodegroup"]["status"].clone(),
        json!("ACTIVE"),
    )
    .await;
    assert_eq!(
        e.get("/clusters/demo/node-groups").await.body,
        json!({"nodegroups": ["ng", "ng2"]})
    );
    assert_eq!(
        e.get("/clusters/demo/node-groups?maxResults=1").await.body["nodegroups"],
        json!(["ng"])
    );
    let r = e.get("/clusters/demo/node-groups/nope").await;
    r.assert_error(404, "ResourceNotFoundException", "No node group found for name: nope.");
    assert_eq!(r.body["nodegroupName"], "nope");
    assert_eq!(r.body["clusterName"], "demo");

    // Fargate.
    let mut fpreq = fargate_req("fp");
    fpreq["selectors"] = json!([{"namespace": "default", "labels": {"app": "x"}}]);
    fpreq["subnets"] = json!(["subnet-1"]);
    let r = e.post("/clusters/demo/fargate-profiles", fpreq).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fp = &r.body["fargateProfile"];
    assert_eq!(fp["fargateProfileName"], "fp");
    assert_eq!(fp["status"], "CREATING");
    assert_eq!(fp["podExecutionRoleArn"], ROLE);
    assert_eq!(
        fp["selectors"],
        json!([{"namespace": "default", "labels": {"app": "x"}}])
    );
    assert_eq!(fp["subnets"], json!(["subnet-1"]));
    assert!(fp["fargateProfileArn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:eks:us-east-1:123456789012:fargateprofile/demo/fp/"));
    e.post("/clusters/demo/fargate-profiles", fargate_req("fp"))
        .await
        .assert_error(
            409,
            "ResourceInUseException",
            "A Fargate Profile already exists with this name in this cluster.",
        );
    e.wait_for(
        "/clusters/demo/fargate-profiles/fp",
        |b| b["fargateProfile"]["status"].clone(),
        json!("ACTIVE"),
    )
    .await;
    assert_eq!(
        e.get("/clusters/demo/fargate-profiles").await.body,
        json!({"fargateProfileNames": ["fp"]})
    );
    e.get("/clusters/demo/fargate-profiles/nope").await.assert_error(
        404,
        "ResourceNotFoundException",
        "No Fargate Profile found with name: nope.",
    );
    let mut bad = fargate_req("fp2");
    bad["selectors"] = json!([]);
    e.post("/clusters/demo/fargate-profiles", bad).await.assert_error(
        400,
        "InvalidParameterException",
        "Fargate Profile requires at least one selector.",
    );

    // The cluster cannot go while node groups or Fargate profiles are attached.
    let r = e.delete("/clusters/demo").await;
    r.assert_error(409, "ResourceInUseException", "Cluster has nodegroups attached");
    assert_eq!(r.body["clusterName"], "demo");
    for ng in ["ng", "ng2"] {
        let d = e.delete(&format!("/clusters/demo/node-groups/{ng}")).await;
        assert_eq!(d.status, 200);
        assert_eq!(d.body["nodegroup"]["status"], "DELETING");
    }
    // Still attached while DELETING.
    e.delete("/clusters/demo")
        .await
        .assert_error(409, "ResourceInUseException", "Cluster has nodegroups attached");
    e.wait_gone("/clusters/demo/node-groups/ng").await;
    e.wait_gone("/clusters/demo/node-groups/ng2").await;
    e.delete("/clusters/demo").await.assert_error(
        409,
        "ResourceInUseException",
        "Cluster has Fargate Profiles in ACTIVE/CREATING state",
    );
    let d = e.delete("/clusters/demo/fargate-profiles/fp").await;
    assert_eq!(d.body["fargateProfile"]["status"], "DELETING");
    e.wait_gone("/clusters/demo/fargate-profiles/fp").await;
    assert_eq!(e.delete("/clusters/demo").await.status, 200);
    e.wait_gone("/clusters/demo").await;
    e.get("/clusters/demo/node-groups").await.assert_error(
        404,
        "ResourceNotFoundException",
        "No cluster found for name: demo.",
    );
}

#[tokio::test]
async fn client_request_token_makes_creates_idempotent() {
    let (_h, e) = start(opts(50, 50)).await;
    let mut req = cluster_req("idem");
    req["clientRequestToken"] = json!("token-1");
    let a = e.post("/clusters", req.clone()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["cluster"]["clientRequestToken"], "token-1");
    let b = e.post("/clusters", req.clone()).await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(a.body["cluster"]["arn"], b.body["cluster"]["arn"]);
    assert_eq!(a.body["cluster"]["createdAt"], b.body["cluster"]["createdAt"]);
    // Another token, or none, is a second create of the same name.
    req["clientRequestToken"] = json!("token-2");
    let r = e.post("/clusters", req).await;
    r.assert_error(409, "ResourceInUseException", "Cluster already exists with name: idem");
    assert_eq!(r.body["clusterName"], "idem");
    e.post("/clusters", cluster_req("idem")).await.assert_error(
        409,
        "ResourceInUseException",
        "Cluster already exists with name: idem",
    );
    // The same token with another request is not a retry.
    let mut other = cluster_req("idem");
    other["clientRequestToken"] = json!("token-1");
    other["version"] = json!("1.30");
    assert_eq!(e.post("/clusters", other).await.status, 409);

    e.wait_for("/clusters/idem", |b| b["cluster"]["status"].clone(), json!("ACTIVE"))
        .await;
    let mut ng = nodegroup_req("ng");
    ng["clientRequestToken"] = json!("t");
    let a = e.post("/clusters/idem/node-groups", ng.clone()).await;
    let b = e.post("/clusters/idem/node-groups", ng).await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.body["nodegroup"]["nodegroupArn"], b.body["nodegroup"]["nodegroupArn"]);
    let mut fp = fargate_req("fp");
    fp["clientRequestToken"] = json!("t");
    let a = e.post("/clusters/idem/fargate-profiles", fp.clone()).await;
    let b = e.post("/clusters/idem/fargate-profiles", fp).await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(
        a.body["fargateProfile"]["fargateProfileArn"],
        b.body["fargateProfile"]["fargateProfileArn"]
    );
}

#[tokio::test]
async fn errors_as_eks_sends_them() {
    let (_h, e) = start(Options {
        eks_max_clusters: 2,
        ..opts(10, 10)
    })
    .await;
    let r = e.get("/clusters/nope").await;
    r.assert_error(404, "ResourceNotFoundException", "No cluster found for name: nope.");
    assert_eq!(r.body["clusterName"], "nope");
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers.contains_key("x-amzn-requestid"));
    e.delete("/clusters/nope")
        .await
        .assert_error(404, "ResourceNotFoundException", "No cluster found for name: nope.");
    e.post("/clusters/nope/node-groups", nodegroup_req("ng"))
        .await
        .assert_error(404, "ResourceNotFoundException", "No cluster found for name: nope.");

    let mut bad = cluster_req("x");
    bad["roleArn"] = json!("not-a-role");
    e.post("/clusters", bad)
        .await
        .assert_error(400, "InvalidParameterException", "Invalid Role Arn: 'not-a-role'");
    let mut missing = cluster_req("x");
    missing.as_object_mut().unwrap().remove("resourcesVpcConfig");
    e.post("/clusters", missing).await.assert_error(
        400,
        "InvalidParameterException",
        "1 validation error detected: Value null at 'resourcesVpcConfig' failed to satisfy constraint: Member must not be null",
    );
    let mut unknown = cluster_req("x");
    unknown["colour"] = json!("blue");
    let r = e.post("/clusters", unknown).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), format!("InvalidParameterException{ERR_SUFFIX}"));
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Unknown parameter in input: \"colour\", must be one of: name, version, roleArn"));
    let mut nested = cluster_req("x");
    nested["resourcesVpcConfig"]["subnetIDs"] = json!([]);
    assert!(e.post("/clusters", nested).await.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Unknown parameter in input: \"resourcesVpcConfig.subnetIDs\""));
    let mut wrong_type = cluster_req("x");
    wrong_type["resourcesVpcConfig"]["subnetIds"] = json!("subnet-1");
    e.post("/clusters", wrong_type).await.assert_error(
        400,
        "SerializationException",
        "Unable to deserialize 'resourcesVpcConfig.subnetIds': expected a list",
    );
    let r = e.call("POST", "/clusters", None).await;
    r.assert_error(
        400,
        "InvalidParameterException",
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null",
    );
    let mut bad_name = cluster_req("-x");
    bad_name["name"] = json!("bad name");
    assert_eq!(
        e.post("/clusters", bad_name).await.error_type(),
        format!("InvalidParameterException{ERR_SUFFIX}")
    );
    let mut bad_version = cluster_req("x");
    bad_version["version"] = json!("1.10");
    e.post("/clusters", bad_version).await.assert_error(
        400,
        "InvalidParameterException",
        "unsupported Kubernetes version",
    );
    let mut bad_enum = cluster_req("x");
    bad_enum["accessConfig"] = json!({"authenticationMode": "PASSWORD"});
    e.post("/clusters", bad_enum).await.assert_error(
        400,
        "InvalidParameterException",
        "1 validation error detected: Value 'PASSWORD' at 'accessConfig.authenticationMode' failed to satisfy constraint: Member must satisfy enum value set: [API, API_AND_CONFIG_MAP, CONFIG_MAP]",
    );

    // The cluster limit.
    active_cluster(&e, "one").await;
    assert_eq!(e.post("/clusters", cluster_req("two")).await.status, 200);
    e.post("/clusters", cluster_req("three")).await.assert_error(
        400,
        "ResourceLimitExceededException",
        "Cluster limit exceeded for account.",
    );

    // Node group request errors.
    let mut ng = nodegroup_req("ng");
    ng["amiType"] = json!("WINDOWS_95");
    let r = e.post("/clusters/one/node-groups", ng).await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("Value 'WINDOWS_95' at 'amiType' failed to satisfy constraint: Member must satisfy enum value set"));
    let mut ng = nodegroup_req("ng");
    ng["nodeRole"] = json!("arn:aws:iam::123:role/x");
    e.post("/clusters/one/node-groups", ng).await.assert_error(
        400,
        "InvalidParameterException",
        "Invalid Role Arn: 'arn:aws:iam::123:role/x'",
    );
    let mut ng = nodegroup_req("ng");
    ng["scalingConfig"] = json!({"maxSize": 0});
    e.post("/clusters/one/node-groups", ng).await.assert_error(
        400,
        "InvalidParameterException",
        "1 validation error detected: Value 0 at 'scalingConfig.maxSize' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    let mut ng = nodegroup_req("ng");
    ng.as_object_mut().unwrap().remove("subnets");
    e.post("/clusters/one/node-groups", ng).await.assert_error(
        400,
        "InvalidParameterException",
        "1 validation error detected: Value null at 'subnets' failed to satisfy constraint: Member must not be null",
    );
    let r = e
        .raw("POST", "/clusters", &[("host".into(), "x".into())], "{not json".into())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), format!("SerializationException{ERR_SUFFIX}"));
    let r = e.get("/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), format!("UnknownOperationException{ERR_SUFFIX}"));
}

#[tokio::test]
async fn the_failure_tag_fails_creation() {
    let (_h, e) = start(opts(20, 20)).await;
    let mut req = cluster_req("doomed");
    req["tags"] = json!({"aslan.io/fail": "true"});
    assert_eq!(e.post("/clusters", req).await.status, 200);
    let c = e
        .wait_for("/clusters/doomed", |b| b["cluster"]["status"].clone(), json!("FAILED"))
        .await;
    let issue = &c["cluster"]["health"]["issues"][0];
    assert_eq!(issue["code"], "InternalFailure");
    assert!(issue["message"].as_str().unwrap().contains("aslan.io/fail"));
    assert_eq!(issue["resourceIds"], json!([c["cluster"]["arn"]]));
    assert!(c["cluster"].get("endpoint").is_none());
    e.post("/clusters/doomed/node-groups", nodegroup_req("ng"))
        .await
        .assert_error(
            400,
            "InvalidRequestException",
            "Cluster 'doomed' is not in ACTIVE status",
        );
    assert_eq!(e.delete("/clusters/doomed").await.status, 200);
    e.wait_gone("/clusters/doomed").await;

    active_cluster(&e, "ok").await;
    let mut ng = nodegroup_req("bad-ng");
    ng["tags"] = json!({"aslan.io/fail": "true"});
    assert_eq!(e.post("/clusters/ok/node-groups", ng).await.status, 200);
    let n = e
        .wait_for(
            "/clusters/ok/node-groups/bad-ng",
            |b| b["nodegroup"]["status"].clone(),
            json!("CREATE_FAILED"),
        )
        .await;
    let issue = &n["nodegroup"]["health"]["issues"][0];
    assert_eq!(issue["code"], "NodeCreationFailure");
    assert_eq!(issue["message"], "Instances failed to join the kubernetes cluster");
    assert!(issue["resourceIds"][0].as_str().unwrap().starts_with("i-"));
    let mut fp = fargate_req("bad-fp");
    fp["tags"] = json!({"aslan.io/fail": "true"});
    assert_eq!(e.post("/clusters/ok/fargate-profiles", fp).await.status, 200);
    e.wait_for(
        "/clusters/ok/fargate-profiles/bad-fp",
        |b| b["fargateProfile"]["status"].clone(),
        json!("CREATE_FAILED"),
    )
    .await;
}

fn keys() -> AwsKeys {
    AwsKeys {
        access_key_id: "AKIDLOCALTEST".into(),
        secret_access_key: "local/secret+key".into(),
    }
}

#[tokio::test]
async fn sigv4_is_verified_when_the_emulator_has_credentials() {
    let (_h, e) = start(Options {
        aws_keys: Some(keys()),
        ..opts(10, 10)
    })
    .await;
    let r = e.post("/clusters", cluster_req("signed")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The region of the signature's scope goes into the ARN.
    assert_eq!(
        r.body["cluster"]["arn"],
        "arn:aws:eks:eu-west-1:123456789012:cluster/signed"
    );
    assert_eq!(e.get("/clusters").await.status, 200);

    let unsigned = Eks {
        addr: e.addr,
        keys: None,
    };
    unsigned.get("/clusters").await.assert_error(
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );
    let wrong_secret = Eks {
        addr: e.addr,
        keys: Some(AwsKeys {
            access_key_id: "AKIDLOCALTEST".into(),
            secret_access_key: "wrong".into(),
        }),
    };
    wrong_secret.get("/clusters").await.assert_error(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
    let wrong_key = Eks {
        addr: e.addr,
        keys: Some(AwsKeys {
            access_key_id: "AKIDOTHER".into(),
            secret_access_key: "local/secret+key".into(),
        }),
    };
    wrong_key.get("/clusters").await.assert_error(
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
}

/// GET /api/v1/namespaces on `endpoint`, trusting `ca_pem`, with `token`.
async fn k8s_get(endpoint: &str, ca_pem: &str, token: &str) -> u16 {
    let addr = endpoint.strip_prefix("https://").unwrap();
    let cfg = aslan_local_cloud::client_config(ca_pem).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = tls.connect(name, tcp).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("/api/v1/namespaces")
        .header("host", addr)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    sender.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_created_cluster_reaches_the_kubernetes_api_with_an_eks_token() {
    let (_h, e) = start(Options {
        aws_keys: Some(keys()),
        ..opts(10, 10)
    })
    .await;
    let token = make_token(&keys(), "eu-west-1", "pi-cluster", SystemTime::now());
    let c = active_cluster(&e, "pi-cluster").await;
    let endpoint = c["cluster"]["endpoint"].as_str().unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(c["cluster"]["certificateAuthority"]["data"].as_str().unwrap())
        .unwrap();
    let ca = String::from_utf8(ca).unwrap();
    assert_eq!(k8s_get(endpoint, &ca, &token).await, 200);
    // A token for a cluster that does not exist is refused.
    let other = make_token(&keys(), "eu-west-1", "no-such-cluster", SystemTime::now());
    assert_eq!(k8s_get(endpoint, &ca, &other).await, 401);
    // Deleting the cluster stops its tokens being accepted.
    assert_eq!(e.delete("/clusters/pi-cluster").await.status, 200);
    e.wait_gone("/clusters/pi-cluster").await;
    assert_eq!(k8s_get(endpoint, &ca, &token).await, 401);
    // The default cluster name stays accepted whatever happens to an EKS cluster of that name.
    active_cluster(&e, "aslan-local").await;
    assert_eq!(e.delete("/clusters/aslan-local").await.status, 200);
    e.wait_gone("/clusters/aslan-local").await;
    let default = make_token(&keys(), "eu-west-1", "aslan-local", SystemTime::now());
    assert_eq!(k8s_get(endpoint, &ca, &default).await, 200);
}

#[tokio::test]
async fn fargate_profiles_are_created_and_deleted_one_at_a_time() {
    let (_h, e) = start(opts(150, 150)).await;
    active_cluster(&e, "fg").await;
    assert_eq!(
        e.post("/clusters/fg/fargate-profiles", fargate_req("a")).await.status,
        200
    );
    e.post("/clusters/fg/fargate-profiles", fargate_req("b"))
        .await
        .assert_error(
            409,
            "ResourceInUseException",
            "Cannot create Fargate Profile b because cluster fg currently has Fargate profile a in status CREATING",
        );
    e.wait_for(
        "/clusters/fg/fargate-profiles/a",
        |b| b["fargateProfile"]["status"].clone(),
        json!("ACTIVE"),
    )
    .await;
    assert_eq!(
        e.post("/clusters/fg/fargate-profiles", fargate_req("b")).await.status,
        200
    );
    e.wait_for(
        "/clusters/fg/fargate-profiles/b",
        |b| b["fargateProfile"]["status"].clone(),
        json!("ACTIVE"),
    )
    .await;
    assert_eq!(e.delete("/clusters/fg/fargate-profiles/a").await.status, 200);
    e.delete("/clusters/fg/fargate-profiles/b").await.assert_error(
        409,
        "ResourceInUseException",
        "Cannot Delete Fargate Profile b because cluster fg currently has Fargate profile a in status DELETING",
    );
}
