//! The EKS resources (clusters, managed node groups, Fargate profiles), their statuses and
//! the operations on them. State lives in memory, bounded by the cluster limit and per-cluster
//! limits on node groups and Fargate profiles.

use super::error::EksError;
use super::schema;
use super::shapes;
use crate::state::Shared;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tag that makes a creation fail (for tests).
pub const FAIL_TAG: &str = "aslan.io/fail";
/// The Kubernetes version of a cluster created without one.
pub const DEFAULT_VERSION: &str = "1.31";
/// The versions CreateCluster accepts.
pub const VERSIONS: &[&str] = &["1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34"];
/// Managed node groups per cluster (the EKS quota).
pub const MAX_NODEGROUPS: usize = 30;
/// Fargate profiles per cluster (the EKS quota).
pub const MAX_FARGATE_PROFILES: usize = 10;

/// How the EKS API behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a resource stays CREATING.
    pub create_delay: Duration,
    /// How long a resource stays DELETING before it is gone.
    pub delete_delay: Duration,
    /// The most clusters (ResourceLimitExceededException beyond).
    pub max_clusters: usize,
    /// The region in ARNs when a request's signature names none.
    pub region: String,
    /// The account id in ARNs.
    pub account_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Creating { until: Instant, fail: bool },
    Active,
    Failed,
    Deleting { until: Instant },
}

struct Child {
    doc: Value,
    request: Value,
    phase: Phase,
}

struct ClusterRec {
    doc: Value,
    request: Value,
    phase: Phase,
    /// Whether creating it added its name to the EKS token check (so deleting it removes it).
    registered: bool,
    nodegroups: BTreeMap<String, Child>,
    fargate: BTreeMap<String, Child>,
}

/// The EKS API's state.
pub struct Eks {
    k8s: Shared,
    k8s_endpoint: String,
    cfg: Config,
    clusters: Mutex<BTreeMap<String, ClusterRec>>,
}

fn now_secs() -> f64 {
    let t = jiff::Timestamp::now();
    (t.as_millisecond() as f64) / 1000.0
}

fn tags_fail(req: &Value) -> bool {
    req.get("tags")
        .and_then(|t| t.get(FAIL_TAG))
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return false;
    };
    let mut parts = rest.splitn(5, ':');
    let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    [
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-eusc",
    ]
    .contains(&partition)
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
}

fn check_role(arn: Option<&str>) -> Result<(), EksError> {
    let arn = arn.unwrap_or("");
    if valid_role_arn(arn) {
        Ok(())
    } else {
        Err(EksError::invalid_parameter(format!("Invalid Role Arn: '{arn}'")))
    }
}

fn valid_cluster_name(name: &str) -> bool {
    let mut b = name.bytes();
    (1..=100).contains(&name.len())
        && b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn check_name(name: &str, member: &str, max: usize) -> Result<(), EksError> {
    if name.is_empty() || name.chars().count() > max || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(EksError::invalid_parameter(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must have length between 1 and {max} and no '/' or control characters"
        )));
    }
    Ok(())
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn or_default(req: &Value, k: &str, default: Value) -> Value {
    match req.get(k) {
        Some(v) if !v.is_null() => v.clone(),
        _ => default,
    }
}

/// Drops `null` members (the request's way of leaving a member out).
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// A page of sorted names: `(names, nextToken)`.
fn page(
    names: Vec<String>,
    max_results: Option<&str>,
    next_token: Option<&str>,
) -> Result<(Vec<String>, Option<String>), EksError> {
    let max = match max_results {
        None => 100,
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| EksError::invalid_parameter(format!("Invalid value for maxResults: {s}")))?;
            if !(1..=100).contains(&n) {
                return Err(EksError::invalid_parameter(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value {}",
                    if n < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
                )));
            }
            n as usize
        }
    };
    let start = match next_token {
        None | Some("") => 0,
        Some(t) => {
            let after = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| EksError::invalid_parameter("The nextToken provided is invalid."))?;
            names.iter().position(|n| *n > after).unwrap_or(names.len())
        }
    };
    let end = (start + max).min(names.len());
    let next =
        (end < names.len()).then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(names[end - 1].as_bytes()));
    Ok((names[start..end].to_vec(), next))
}

fn parse_body(body: &[u8]) -> Result<Value, EksError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(EksError::serialization(
            "Start of structure or map found where not expected.",
        )),
        Err(e) => Err(EksError::serialization(format!("Malformed JSON: {e}"))),
    }
}

fn token_matches(existing: &Value, req: &Value) -> bool {
    str_of(req, "clientRequestToken").is_some_and(|t| str_of(existing, "clientRequestToken") == Some(t))
        && existing == req
}

impl Eks {
    /// The EKS API of an emulator whose Kubernetes API is at `k8s_endpoint`.
    pub fn new(k8s: Shared, k8s_endpoint: String, cfg: Config) -> Eks {
        Eks {
            k8s,
            k8s_endpoint,
            cfg,
            clusters: Mutex::new(BTreeMap::new()),
        }
    }

    /// How long until the next scheduled transition is due, after a create or delete.
    pub fn delays(&self) -> (Duration, Duration) {
        (self.cfg.create_delay, self.cfg.delete_delay)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ClusterRec>> {
        self.clusters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arn(&self, region: &str, resource: &str) -> String {
        format!("arn:aws:eks:{region}:{}:{resource}", self.cfg.account_id)
    }

    fn region<'a>(&'a self, region: Option<&'a str>) -> &'a str {
        region.filter(|r| !r.is_empty()).unwrap_or(&self.cfg.region)
    }

    /// Applies every transition that is due.
    pub fn advance(&self) {
        let now = Instant::now();
        let mut g = self.lock();
        let mut gone = Vec::new();
        for (name, c) in g.iter_mut() {
            match c.phase {
                Phase::Creating { until, fail } if until <= now => {
                    if fail {
                        c.phase = Phase::Failed;
                        c.doc["status"] = json!("FAILED");
                        let arn = c.doc["arn"].clone();
                        c.doc["health"] = json!({"issues": [{
                            "code": "InternalFailure",
                            "message": format!("Cluster creation failed: the {FAIL_TAG} tag asked the emulator to fail it."),
                            "resourceIds": [arn]
                        }]});
                    } else {
                        c.phase = Phase::Active;
                        c.doc["status"] = json!("ACTIVE");
                        c.doc["endpoint"] = json!(self.k8s_endpoint);
                        c.doc["certificateAuthority"] =
                            json!({"data": base64::engine::general_purpose::STANDARD.encode(&self.k8s.ca_pem)});
                    }
                }
                Phase::Deleting { until } if until <= now => gone.push(name.clone()),
                _ => {}
            }
            for children in [&mut c.nodegroups, &mut c.fargate] {
                let mut done = Vec::new();
                for (n, ch) in children.iter_mut() {
                    match ch.phase {
                        Phase::Creating { until, fail } if until <= now => {
                            if fail {
                                ch.phase = Phase::Failed;
                                ch.doc["status"] = json!("CREATE_FAILED");
                                let issue = if ch.doc.get("nodegroupArn").is_some() {
                                    let ids: Vec<String> =
                                        (0..2).map(|_| format!("i-{}", crate::util::random_hex(17))).collect();
                                    json!({"code": "NodeCreationFailure", "message": "Instances failed to join the kubernetes cluster", "resourceIds": ids})
                                } else {
                                    json!({"code": "InternalFailure", "message": format!("Fargate profile creation failed: the {FAIL_TAG} tag asked the emulator to fail it."), "resourceIds": [ch.doc["fargateProfileArn"].clone()]})
                                };
                                ch.doc["health"] = json!({"issues": [issue]});
                            } else {
                                ch.phase = Phase::Active;
                                ch.doc["status"] = json!("ACTIVE");
                            }
                            if ch.doc.get("modifiedAt").is_some() {
                                ch.doc["modifiedAt"] = json!(now_secs());
                            }
                        }
                        Phase::Deleting { until } if until <= now => done.push(n.clone()),
                        _ => {}
                    }
                }
                for n in done {
                    children.remove(&n);
                }
            }
        }
        for name in gone {
            if let Some(c) = g.remove(&name) {
                if c.registered {
                    self.k8s.unregister_eks_cluster(&name);
                }
            }
        }
    }

    /// CreateCluster: (HTTP status, body).
    pub fn create_cluster(&self, body: &[u8], region: Option<&str>) -> Result<(u16, Value), EksError> {
        let req = parse_body(body)?;
        schema::check(&req, &shapes::T_CREATE_CLUSTER_REQUEST, "")?;
        let req = strip_nulls(&req);
        let name = str_of(&req, "name").unwrap_or("").to_string();
        if !valid_cluster_name(&name) {
            return Err(EksError::invalid_parameter(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9A-Za-z][A-Za-z0-9\\-_]*"
            )));
        }
        self.advance();
        let mut g = self.lock();
        if let Some(existing) = g.get(&name) {
            if token_matches(&existing.request, &req) {
                return Ok((200, json!({"cluster": existing.doc})));
            }
            return Err(
                EksError::in_use(format!("Cluster already exists with name: {name}")).with("clusterName", &name)
            );
        }
        check_role(str_of(&req, "roleArn"))?;
        let version = str_of(&req, "version").unwrap_or(DEFAULT_VERSION).to_string();
        if !VERSIONS.contains(&version.as_str()) {
            return Err(EksError::invalid_parameter("unsupported Kubernetes version").with("clusterName", &name));
        }
        if g.len() >= self.cfg.max_clusters {
            return Err(EksError::limit("Cluster limit exceeded for account.").with("clusterName", &name));
        }
        let region = self.region(region).to_string();
        let vpc = req.get("resourcesVpcConfig").cloned().unwrap_or_else(|| json!({}));
        let mut resources_vpc = json!({
            "subnetIds": or_default(&vpc, "subnetIds", json!([])),
            "securityGroupIds": or_default(&vpc, "securityGroupIds", json!([])),
            "clusterSecurityGroupId": format!("sg-{}", crate::util::random_hex(17)),
            "vpcId": format!("vpc-{}", crate::util::random_hex(17)),
            "endpointPublicAccess": or_default(&vpc, "endpointPublicAccess", json!(true)),
            "endpointPrivateAccess": or_default(&vpc, "endpointPrivateAccess", json!(false)),
            "publicAccessCidrs": or_default(&vpc, "publicAccessCidrs", json!(["0.0.0.0/0"])),
        });
        if let Some(m) = vpc.get("controlPlaneEgressMode") {
            resources_vpc["controlPlaneEgressMode"] = m.clone();
        }
        let knc_req = req.get("kubernetesNetworkConfig").cloned().unwrap_or_else(|| json!({}));
        let ip_family = or_default(&knc_req, "ipFamily", json!("ipv4"));
        let mut knc = json!({
            "ipFamily": ip_family,
            "elasticLoadBalancing": or_default(&knc_req, "elasticLoadBalancing", json!({"enabled": false})),
        });
        if ip_family == "ipv6" {
            knc["serviceIpv6Cidr"] = json!("fd00:ec2::/108");
        } else {
            knc["serviceIpv4Cidr"] = or_default(&knc_req, "serviceIpv4Cidr", json!("10.100.0.0/16"));
        }
        let all_logs =
            json!([{"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": false}]);
        let access_req = req.get("accessConfig").cloned().unwrap_or_else(|| json!({}));
        let mut doc = json!({
            "name": name,
            "arn": self.arn(&region, &format!("cluster/{name}")),
            "createdAt": now_secs(),
            "version": version,
            "roleArn": req["roleArn"],
            "resourcesVpcConfig": resources_vpc,
            "kubernetesNetworkConfig": knc,
            "logging": or_default(&req, "logging", json!({"clusterLogging": all_logs})),
            "identity": {"oidc": {"issuer": format!("https://oidc.eks.{region}.amazonaws.com/id/{}", crate::util::random_hex(32).to_ascii_uppercase())}},
            "status": "CREATING",
            "certificateAuthority": {},
            "platformVersion": "eks.20",
            "tags": or_default(&req, "tags", json!({})),
            "health": {"issues": []},
            "accessConfig": {
                "bootstrapClusterCreatorAdminPermissions": or_default(&access_req, "bootstrapClusterCreatorAdminPermissions", json!(true)),
                "authenticationMode": or_default(&access_req, "authenticationMode", json!("CONFIG_MAP")),
            },
            "upgradePolicy": or_default(&req, "upgradePolicy", json!({"supportType": "EXTENDED"})),
            "deletionProtection": or_default(&req, "deletionProtection", json!(false)),
        });
        for k in [
            "clientRequestToken",
            "encryptionConfig",
            "outpostConfig",
            "zonalShiftConfig",
            "remoteNetworkConfig",
            "computeConfig",
            "storageConfig",
            "controlPlaneScalingConfig",
            "kubeApiServerConfig",
            "kubeSchedulerConfig",
            "kubeControllerManagerConfig",
        ] {
            if let Some(v) = req.get(k) {
                doc[k] = v.clone();
            }
        }
        if req.get("outpostConfig").is_some() {
            doc["id"] = json!(uuid::Uuid::new_v4().to_string());
        }
        let registered = self.k8s.register_eks_cluster(&name);
        let phase = Phase::Creating {
            until: Instant::now() + self.cfg.create_delay,
            fail: tags_fail(&req),
        };
        let out = json!({"cluster": doc});
        g.insert(
            name,
            ClusterRec {
                doc,
                request: req,
                phase,
                registered,
                nodegroups: BTreeMap::new(),
                fargate: BTreeMap::new(),
            },
        );
        Ok((200, out))
    }

    /// DescribeCluster.
    pub fn describe_cluster(&self, name: &str) -> Result<Value, EksError> {
        self.advance();
        let g = self.lock();
        let c = g.get(name).ok_or_else(|| EksError::no_cluster(name))?;
        Ok(json!({"cluster": c.doc}))
    }

    /// DeleteCluster.
    pub fn delete_cluster(&self, name: &str) -> Result<Value, EksError> {
        self.advance();
        let mut g = self.lock();
        let c = g.get_mut(name).ok_or_else(|| EksError::no_cluster(name))?;
        if !c.nodegroups.is_empty() {
            let names: Vec<&str> = c.nodegroups.keys().map(String::as_str).collect();
            return Err(EksError::in_use("Cluster has nodegroups attached")
                .with("clusterName", name)
                .with("nodegroupName", &names.join(",")));
        }
        if !c.fargate.is_empty() {
            return Err(
                EksError::in_use("Cluster has Fargate Profiles in ACTIVE/CREATING state").with("clusterName", name),
            );
        }
        if c.doc.get("deletionProtection") == Some(&json!(true)) {
            return Err(EksError::invalid_request(format!(
                "Cannot delete cluster {name} because deletion protection is enabled. Disable deletion protection first."
            ))
            .with("clusterName", name));
        }
        if !matches!(c.phase, Phase::Deleting { .. }) {
            c.phase = Phase::Deleting {
                until: Instant::now() + self.cfg.delete_delay,
            };
            c.doc["status"] = json!("DELETING");
        }
        Ok(json!({"cluster": c.doc}))
    }

    /// ListClusters.
    pub fn list_clusters(&self, max_results: Option<&str>, next_token: Option<&str>) -> Result<Value, EksError> {
        self.advance();
        let names: Vec<String> = self.lock().keys().cloned().collect();
        let (names, next) = page(names, max_results, next_token)?;
        let mut out = json!({"clusters": names});
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    fn active_cluster<'a>(g: &'a mut BTreeMap<String, ClusterRec>, name: &str) -> Result<&'a mut ClusterRec, EksError> {
        let c = g.get_mut(name).ok_or_else(|| EksError::no_cluster(name))?;
        Ok(c)
    }

    /// CreateNodegroup.
    pub fn create_nodegroup(&self, cluster: &str, body: &[u8]) -> Result<(u16, Value), EksError> {
        let req = parse_body(body)?;
        schema::check(&req, &shapes::T_CREATE_NODEGROUP_REQUEST, "")?;
        let req = strip_nulls(&req);
        let ng = str_of(&req, "nodegroupName").unwrap_or("").to_string();
        check_name(&ng, "nodegroupName", 100)?;
        self.advance();
        let mut g = self.lock();
        let c = Self::active_cluster(&mut g, cluster)?;
        if let Some(existing) = c.nodegroups.get(&ng) {
            if token_matches(&existing.request, &req) {
                return Ok((200, json!({"nodegroup": existing.doc})));
            }
            return Err(EksError::in_use(format!(
                "NodeGroup already exists with name {ng} and cluster name {cluster}"
            ))
            .with("clusterName", cluster)
            .with("nodegroupName", &ng));
        }
        if c.phase != Phase::Active {
            return Err(
                EksError::invalid_request(format!("Cluster '{cluster}' is not in ACTIVE status"))
                    .with("clusterName", cluster),
            );
        }
        if req.get("launchTemplate").is_some() {
            if req.get("diskSize").is_some() {
                return Err(EksError::invalid_parameter(
                    "Disk size must be specified within the launch template.",
                ));
            }
            if req.get("remoteAccess").is_some() {
                return Err(EksError::invalid_parameter(
                    "Remote access configuration cannot be specified with a launch template.",
                ));
            }
        }
        check_role(str_of(&req, "nodeRole"))?;
        let cluster_version = c.doc["version"].as_str().unwrap_or(DEFAULT_VERSION).to_string();
        if let Some(v) = str_of(&req, "version") {
            if v != cluster_version {
                return Err(EksError::invalid_parameter(format!(
                    "Nodegroup Kubernetes version should be equal to Cluster kubernetes version {cluster_version} or NodeGroup kubernetes version should not be specified."
                ))
                .with("clusterName", cluster)
                .with("nodegroupName", &ng));
            }
        }
        if c.nodegroups.len() >= MAX_NODEGROUPS {
            return Err(EksError::limit(format!(
                "Nodegroup limit ({MAX_NODEGROUPS}) exceeded for cluster {cluster}."
            ))
            .with("clusterName", cluster)
            .with("nodegroupName", &ng));
        }
        let region = c.doc["arn"]
            .as_str()
            .unwrap_or("")
            .split(':')
            .nth(3)
            .unwrap_or("")
            .to_string();
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_secs();
        let mut resources = json!({"autoScalingGroups": [{"name": format!("eks-{ng}-{id}")}]});
        if req.get("remoteAccess").is_some() {
            resources["remoteAccessSecurityGroup"] = json!(format!("sg-{}", crate::util::random_hex(17)));
        }
        let mut doc = json!({
            "nodegroupName": ng,
            "nodegroupArn": self.arn(&region, &format!("nodegroup/{cluster}/{ng}/{id}")),
            "clusterName": cluster,
            "version": cluster_version,
            "releaseVersion": or_default(&req, "releaseVersion", json!(format!("{cluster_version}.0-20250715"))),
            "createdAt": now,
            "modifiedAt": now,
            "status": "CREATING",
            "capacityType": or_default(&req, "capacityType", json!("ON_DEMAND")),
            "scalingConfig": {"minSize": 2, "maxSize": 2, "desiredSize": 2},
            "instanceTypes": or_default(&req, "instanceTypes", json!(["t3.medium"])),
            "subnets": or_default(&req, "subnets", json!([])),
            "amiType": or_default(&req, "amiType", json!("AL2023_x86_64_STANDARD")),
            "nodeRole": req["nodeRole"],
            "labels": or_default(&req, "labels", json!({})),
            "resources": resources,
            "health": {"issues": []},
            "updateConfig": or_default(&req, "updateConfig", json!({"maxUnavailable": 1})),
            "tags": or_default(&req, "tags", json!({})),
        });
        if let Some(Value::Object(s)) = req.get("scalingConfig") {
            if let Some(o) = doc["scalingConfig"].as_object_mut() {
                for (k, v) in s {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        if req.get("launchTemplate").is_none() {
            doc["diskSize"] = or_default(&req, "diskSize", json!(20));
        }
        for k in [
            "remoteAccess",
            "taints",
            "launchTemplate",
            "nodeRepairConfig",
            "warmPoolConfig",
        ] {
            if let Some(v) = req.get(k) {
                doc[k] = v.clone();
            }
        }
        let phase = Phase::Creating {
            until: Instant::now() + self.cfg.create_delay,
            fail: tags_fail(&req),
        };
        let out = json!({"nodegroup": doc});
        c.nodegroups.insert(
            ng,
            Child {
                doc,
                request: req,
                phase,
            },
        );
        Ok((200, out))
    }

    fn child_kind(fargate: bool) -> (&'static str, &'static str) {
        if fargate {
            ("fargateProfile", "fargateProfileName")
        } else {
            ("nodegroup", "nodegroupName")
        }
    }

    fn child_not_found(cluster: &str, name: &str, fargate: bool) -> EksError {
        if fargate {
            EksError::not_found(format!("No Fargate Profile found with name: {name}."))
                .with("clusterName", cluster)
                .with("fargateProfileName", name)
        } else {
            EksError::not_found(format!("No node group found for name: {name}."))
                .with("clusterName", cluster)
                .with("nodegroupName", name)
        }
    }

    /// DescribeNodegroup / DescribeFargateProfile.
    pub fn describe_child(&self, cluster: &str, name: &str, fargate: bool) -> Result<Value, EksError> {
        self.advance();
        let g = self.lock();
        let c = g.get(cluster).ok_or_else(|| EksError::no_cluster(cluster))?;
        let children = if fargate { &c.fargate } else { &c.nodegroups };
        let ch = children
            .get(name)
            .ok_or_else(|| Self::child_not_found(cluster, name, fargate))?;
        Ok(json!({ Self::child_kind(fargate).0: ch.doc }))
    }

    /// DeleteNodegroup / DeleteFargateProfile.
    pub fn delete_child(&self, cluster: &str, name: &str, fargate: bool) -> Result<Value, EksError> {
        self.advance();
        let mut g = self.lock();
        let c = g.get_mut(cluster).ok_or_else(|| EksError::no_cluster(cluster))?;
        if fargate {
            if !c.fargate.contains_key(name) {
                return Err(Self::child_not_found(cluster, name, true));
            }
            if let Some((other, _)) = c
                .fargate
                .iter()
                .find(|(n, ch)| n.as_str() != name && matches!(ch.phase, Phase::Deleting { .. }))
            {
                return Err(EksError::in_use(format!(
                    "Cannot Delete Fargate Profile {name} because cluster {cluster} currently has Fargate profile {other} in status DELETING"
                ))
                .with("clusterName", cluster));
            }
        }
        let children = if fargate { &mut c.fargate } else { &mut c.nodegroups };
        let ch = children
            .get_mut(name)
            .ok_or_else(|| Self::child_not_found(cluster, name, fargate))?;
        if !matches!(ch.phase, Phase::Deleting { .. }) {
            ch.phase = Phase::Deleting {
                until: Instant::now() + self.cfg.delete_delay,
            };
            ch.doc["status"] = json!("DELETING");
            if ch.doc.get("modifiedAt").is_some() {
                ch.doc["modifiedAt"] = json!(now_secs());
            }
        }
        Ok(json!({ Self::child_kind(fargate).0: ch.doc }))
    }

    /// ListNodegroups / ListFargateProfiles.
    pub fn list_children(
        &self,
        cluster: &str,
        fargate: bool,
        max_results: Option<&str>,
        next_token: Option<&str>,
    ) -> Result<Value, EksError> {
        self.advance();
        let names: Vec<String> = {
            let g = self.lock();
            let c = g.get(cluster).ok_or_else(|| EksError::no_cluster(cluster))?;
            let children = if fargate { &c.fargate } else { &c.nodegroups };
            children.keys().cloned().collect()
        };
        let (names, next) = page(names, max_results, next_token)?;
        let mut out = Map::new();
        out.insert(
            (if fargate { "fargateProfileNames" } else { "nodegroups" }).into(),
            json!(names),
        );
        if let Some(t) = next {
            out.insert("nextToken".into(), json!(t));
        }
        Ok(Value::Object(out))
    }

    /// CreateFargateProfile.
    pub fn create_fargate_profile(&self, cluster: &str, body: &[u8]) -> Result<(u16, Value), EksError> {
        let req = parse_body(body)?;
        schema::check(&req, &shapes::T_CREATE_FARGATE_PROFILE_REQUEST, "")?;
        let req = strip_nulls(&req);
        let fp = str_of(&req, "fargateProfileName").unwrap_or("").to_string();
        check_name(&fp, "fargateProfileName", 100)?;
        self.advance();
        let mut g = self.lock();
        let c = Self::active_cluster(&mut g, cluster)?;
        if let Some(existing) = c.fargate.get(&fp) {
            if token_matches(&existing.request, &req) {
                return Ok((200, json!({"fargateProfile": existing.doc})));
            }
            return Err(
                EksError::in_use("A Fargate Profile already exists with this name in this cluster.")
                    .with("clusterName", cluster),
            );
        }
        if c.phase != Phase::Active {
            return Err(
                EksError::invalid_request(format!("Cluster '{cluster}' is not in ACTIVE status"))
                    .with("clusterName", cluster),
            );
        }
        let selectors = req
            .get("selectors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let bad = |m: &str| {
            EksError::invalid_parameter(m)
                .with("clusterName", cluster)
                .with("fargateProfileName", &fp)
        };
        if selectors.is_empty() {
            return Err(bad("Fargate Profile requires at least one selector."));
        }
        for s in &selectors {
            if str_of(s, "namespace").is_none_or(str::is_empty) {
                return Err(bad(
                    "Fargate Profile must have at least one selector with at least one namespace value.",
                ));
            }
            if s.get("labels").and_then(Value::as_object).is_some_and(|l| l.len() > 5) {
                return Err(bad("Request contains Selector with more than 5 Label pairs"));
            }
        }
        if selectors.len() > 5 {
            return Err(bad("Fargate Profile can contain at most 5 selectors."));
        }
        check_role(str_of(&req, "podExecutionRoleArn"))?;
        if let Some((other, _)) = c
            .fargate
            .iter()
            .find(|(_, ch)| matches!(ch.phase, Phase::Creating { .. }))
        {
            return Err(EksError::in_use(format!(
                "Cannot create Fargate Profile {fp} because cluster {cluster} currently has Fargate profile {other} in status CREATING"
            ))
            .with("clusterName", cluster));
        }
        if c.fargate.len() >= MAX_FARGATE_PROFILES {
            return Err(EksError::limit(format!(
                "Fargate Profile limit ({MAX_FARGATE_PROFILES}) exceeded for cluster {cluster}."
            ))
            .with("clusterName", cluster));
        }
        let region = c.doc["arn"]
            .as_str()
            .unwrap_or("")
            .split(':')
            .nth(3)
            .unwrap_or("")
            .to_string();
        let id = uuid::Uuid::new_v4().to_string();
        let doc = json!({
            "fargateProfileName": fp,
            "fargateProfileArn": self.arn(&region, &format!("fargateprofile/{cluster}/{fp}/{id}")),
            "clusterName": cluster,
            "createdAt": now_secs(),
            "podExecutionRoleArn": req["podExecutionRoleArn"],
            "subnets": or_default(&req, "subnets", json!([])),
            "selectors": selectors,
            "status": "CREATING",
            "tags": or_default(&req, "tags", json!({})),
            "health": {"issues": []},
        });
        let phase = Phase::Creating {
            until: Instant::now() + self.cfg.create_delay,
            fail: tags_fail(&req),
        };
        let out = json!({"fargateProfile": doc});
        c.fargate.insert(
            fp,
            Child {
                doc,
                request: req,
                phase,
            },
        );
        Ok((200, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert!(valid_role_arn("arn:aws:iam::123456789012:role/eks"));
        assert!(valid_role_arn("arn:aws-cn:iam::123456789012:role/path/eks"));
        assert!(!valid_role_arn("arn:aws:iam::12345678901:role/eks"));
        assert!(!valid_role_arn("arn:aws:iam::123456789012:user/eks"));
        assert!(!valid_role_arn("arn:aws:s3::123456789012:role/eks"));
        assert!(!valid_role_arn("arn:nope:iam::123456789012:role/eks"));
        assert!(!valid_role_arn("role"));
    }

    #[test]
    fn cluster_names() {
        assert!(valid_cluster_name("a"));
        assert!(valid_cluster_name("My_cluster-1"));
        assert!(!valid_cluster_name(""));
        assert!(!valid_cluster_name("-a"));
        assert!(!valid_cluster_name("a b"));
        assert!(!valid_cluster_name(&"a".repeat(101)));
    }

    #[test]
    fn pages() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (p1, t) = page(names.clone(), Some("2"), None).unwrap();
        assert_eq!(p1, ["a", "b"]);
        let (p2, t2) = page(names.clone(), Some("2"), t.as_deref()).unwrap();
        assert_eq!(p2, ["c"]);
        assert!(t2.is_none());
        assert!(page(names.clone(), Some("0"), None).is_err());
        assert!(page(names.clone(), Some("101"), None).is_err());
        assert!(page(names, None, Some("!!")).is_err());
    }
}
