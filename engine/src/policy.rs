//! Least-privilege permissions for a definition's EKS and Kubernetes task
//! states (`aslan policy`): the IAM policy its execution role needs, shaped
//! as the templates of AWS's EKS integration page, and the Kubernetes RBAC
//! rules its `eks:call` and `eks:runJob` states need inside the cluster.
//!
//! Names the definition fixes (literal `Name`, `ClusterName`,
//! `NodegroupName`, `RoleArn`, `Path`, ...) narrow the resources; names that
//! come from `.$` paths leave a `*` in their place. No statement has a
//! wildcard action.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Where the execution runs: ARNs use them (`*` when unknown).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The region (`us-east-1`) or `*`.
    pub region: String,
    /// The account (`123456789012`) or `*`.
    pub account: String,
}

fn lit<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

/// Every Task state (resource, parameters) of a definition, nested ones
/// included.
fn tasks(def: &Value, out: &mut Vec<(String, Value)>, depth: usize) {
    if depth > 64 {
        return;
    }
    for st in def
        .get("States")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        match st.get("Type").and_then(Value::as_str) {
            Some("Task") => {
                if let Some(r) = st.get("Resource").and_then(Value::as_str) {
                    out.push((r.to_string(), st.get("Parameters").cloned().unwrap_or(Value::Null)));
                }
            }
            Some("Parallel") => {
                for b in st.get("Branches").and_then(Value::as_array).into_iter().flatten() {
                    tasks(b, out, depth + 1);
                }
            }
            Some("Map") => {
                for k in ["ItemProcessor", "Iterator"] {
                    if let Some(p) = st.get(k) {
                        tasks(p, out, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Statements keyed by (actions, condition) so that equal ones merge their
/// resources.
#[derive(Default)]
struct Statements(BTreeMap<(Vec<String>, String), Vec<String>>);

impl Statements {
    fn add(&mut self, actions: &[&str], resources: Vec<String>, condition: Option<Value>) {
        let key = (
            actions.iter().map(|a| a.to_string()).collect(),
            condition.map(|c| c.to_string()).unwrap_or_default(),
        );
        let r = self.0.entry(key).or_default();
        for x in resources {
            if !r.contains(&x) {
                r.push(x);
            }
        }
    }

    fn into_policy(self) -> Value {
        let statements: Vec<Value> = self
            .0
            .into_iter()
            .map(|((actions, condition), mut resources)| {
                if resources.iter().any(|r| r == "*") {
                    resources = vec!["*".into()];
                }
                let mut s = Map::new();
                s.insert("Effect".into(), json!("Allow"));
                s.insert("Action".into(), json!(actions));
                s.insert(
                    "Resource".into(),
                    if resources.len() == 1 {
                        json!(resources[0])
                    } else {
                        json!(resources)
                    },
                );
                if !condition.is_empty() {
                    s.insert(
                        "Condition".into(),
                        serde_json::from_str(&condition).unwrap_or(Value::Null),
                    );
                }
                Value::Object(s)
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": statements})
    }
}

fn pass_role(to: &str) -> Value {
    json!({"StringEquals": {"iam:PassedToService": to}})
}

/// The IAM policy document the definition's EKS task states need (an empty
/// `Statement` list when it has none).
pub fn iam_policy(def: &Value, scope: &Scope) -> Value {
    let mut all = Vec::new();
    tasks(def, &mut all, 0);
    let (r, a) = (&scope.region, &scope.account);
    let mut st = Statements::default();
    let name = |p: &Value, k: &str| lit(p, k).unwrap_or("*").to_string();
    let cluster_arn = |cluster: String| format!("arn:aws:eks:{r}:{a}:cluster/{cluster}");
    let nodegroup_arn = |p: &Value| {
        format!(
            "arn:aws:eks:{r}:{a}:nodegroup/{}/{}/*",
            name(p, "ClusterName"),
            name(p, "NodegroupName")
        )
    };
    let fargate_profile_arn = |p: &Value| {
        format!(
            "arn:aws:eks:{r}:{a}:fargateprofile/{}/{}/*",
            name(p, "ClusterName"),
            name(p, "FargateProfileName")
        )
    };
    for (resource, p) in &all {
        let Some(op) = resource.strip_prefix("arn:aws:states:::eks:") else {
            continue;
        };
        let (action, sync) = match op.strip_suffix(".sync") {
            Some(a) => (a, true),
            None => (op, false),
        };
        match action {
            "createCluster" => {
                st.add(&["eks:CreateCluster"], vec!["*".into()], None);
                if sync {
                    st.add(
                        &["eks:DescribeCluster", "eks:DeleteCluster"],
                        vec![cluster_arn(name(p, "Name"))],
                        None,
                    );
                }
                st.add(
                    &["iam:PassRole"],
                    vec![name(p, "RoleArn")],
                    Some(pass_role("eks.amazonaws.com")),
                );
            }
            "deleteCluster" => {
                let mut actions = vec!["eks:DeleteCluster"];
                if sync {
                    actions.push("eks:DescribeCluster");
                }
                st.add(&actions, vec![cluster_arn(name(p, "Name"))], None);
            }
            "createNodegroup" => {
                st.add(&["ec2:DescribeSubnets", "eks:CreateNodegroup"], vec!["*".into()], None);
                if sync {
                    st.add(
                        &["eks:DescribeNodegroup", "eks:DeleteNodegroup"],
                        vec![nodegroup_arn(p)],
                        None,
                    );
                }
                st.add(
                    &["iam:GetRole", "iam:ListAttachedRolePolicies"],
                    vec![format!("arn:aws:iam::{a}:role/*")],
                    None,
                );
                st.add(
                    &["iam:PassRole"],
                    vec![name(p, "NodeRole")],
                    Some(pass_role("eks.amazonaws.com")),
                );
            }
            "deleteNodegroup" => {
                let mut actions = vec!["eks:DeleteNodegroup"];
                if sync {
                    actions.push("eks:DescribeNodegroup");
                }
                st.add(&actions, vec![nodegroup_arn(p)], None);
            }
            "createFargateProfile" => {
                st.add(
                    &["eks:CreateFargateProfile"],
                    vec![cluster_arn(name(p, "ClusterName"))],
                    None,
                );
                if sync {
                    st.add(
                        &["eks:DescribeFargateProfile", "eks:DeleteFargateProfile"],
                        vec![fargate_profile_arn(p)],
                        None,
                    );
                }
                st.add(
                    &["iam:PassRole"],
                    vec![name(p, "PodExecutionRoleArn")],
                    Some(pass_role("eks-fargate-pods.amazonaws.com")),
                );
            }
            "deleteFargateProfile" => {
                let mut actions = vec!["eks:DeleteFargateProfile"];
                if sync {
                    actions.push("eks:DescribeFargateProfile");
                }
                st.add(&actions, vec![fargate_profile_arn(p)], None);
            }
            _ => {} // eks:call and eks:runJob need RBAC inside the cluster, not IAM
        }
    }
    st.into_policy()
}

/// One RBAC rule: where it applies (cluster name, namespace or `None` for
/// cluster-scoped), API group, resource, verb and resource name.
type Rule = (String, Option<String>, String, String, String, Option<String>);

/// Verbs per (API group, resource, resource name).
type RulesByResource = BTreeMap<(String, String, Option<String>), Vec<String>>;

/// What a REST path names: (namespace, API group, resource, name).
fn parse_path(path: &str) -> Option<(Option<String>, String, String, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => (String::new(), rest),
        ["apis", g, _v, rest @ ..] => (g.to_string(), rest),
        _ => return None,
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        other => (None, other),
    };
    match rest {
        [res] => Some((ns, group, res.to_string(), None)),
        [res, name] => Some((ns, group, res.to_string(), Some(name.to_string()))),
        [res, name, sub] => Some((ns, group, format!("{res}/{sub}"), Some(name.to_string()))),
        _ => None,
    }
}

fn verb(method: &str, named: bool, watch: bool) -> &'static str {
    match (method, named) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "*",
    }
}

/// The Kubernetes RBAC rules the definition's `eks:call` and `eks:runJob`
/// states need, per cluster and namespace, as Role-shaped JSON:
/// `[{"cluster", "namespace" (absent for cluster-scoped), "rules": [...]}]`.
pub fn rbac(def: &Value) -> Value {
    let mut all = Vec::new();
    tasks(def, &mut all, 0);
    let mut rules: Vec<Rule> = Vec::new();
    for (resource, p) in &all {
        let cluster = lit(p, "ClusterName").unwrap_or("*").to_string();
        match resource.as_str() {
            "arn:aws:states:::eks:call" => {
                let (Some(method), Some(path)) = (lit(p, "Method"), lit(p, "Path")) else {
                    rules.push((cluster, None, "*".into(), "*".into(), "*".into(), None));
                    continue;
                };
                let watch = p["QueryParameters"]["watch"][0]
                    .as_str()
                    .is_some_and(|w| w == "1" || w == "true");
                match parse_path(path) {
                    Some((ns, group, res, name)) => {
                        let v = verb(method, name.is_some(), watch);
                        rules.push((cluster, ns, group, res, v.into(), name));
                    }
                    None => rules.push((cluster, None, "*".into(), "*".into(), "*".into(), None)),
                }
            }
            "arn:aws:states:::eks:runJob" | "arn:aws:states:::eks:runJob.sync" => {
                let ns = Some(lit(p, "Namespace").unwrap_or("default").to_string());
                let g = "batch".to_string();
                rules.push((
                    cluster.clone(),
                    ns.clone(),
                    g.clone(),
                    "jobs".into(),
                    "create".into(),
                    None,
                ));
                // A start that runs again after a restart reads the Job it made.
                rules.push((
                    cluster.clone(),
                    ns.clone(),
                    g.clone(),
                    "jobs".into(),
                    "get".into(),
                    None,
                ));
                rules.push((
                    cluster.clone(),
                    ns.clone(),
                    g.clone(),
                    "jobs".into(),
                    "list".into(),
                    None,
                ));
                if resource.ends_with(".sync") {
                    rules.push((
                        cluster.clone(),
                        ns.clone(),
                        g.clone(),
                        "jobs".into(),
                        "watch".into(),
                        None,
                    ));
                    // Cancellation deletes the Job.
                    rules.push((cluster.clone(), ns.clone(), g, "jobs".into(), "delete".into(), None));
                    if p["LogOptions"]["RetrieveLogs"].as_bool() == Some(true) {
                        rules.push((
                            cluster.clone(),
                            ns.clone(),
                            String::new(),
                            "pods".into(),
                            "list".into(),
                            None,
                        ));
                        rules.push((cluster, ns, String::new(), "pods/log".into(), "get".into(), None));
                    }
                }
            }
            _ => {}
        }
    }
    // Group: (cluster, namespace) → (group, resource, names) → verbs.
    let mut by_scope: BTreeMap<(String, Option<String>), RulesByResource> = BTreeMap::new();
    for (cluster, ns, group, res, verb, name) in rules {
        let verbs = by_scope
            .entry((cluster, ns))
            .or_default()
            .entry((group, res, name))
            .or_default();
        if !verbs.contains(&verb) {
            verbs.push(verb);
        }
    }
    Value::Array(
        by_scope
            .into_iter()
            .map(|((cluster, ns), rules)| {
                let rules: Vec<Value> = rules
                    .into_iter()
                    .map(|((group, res, name), verbs)| {
                        let mut r = json!({"apiGroups": [group], "resources": [res], "verbs": verbs});
                        if let Some(n) = name {
                            r["resourceNames"] = json!([n]);
                        }
                        r
                    })
                    .collect();
                let mut o = json!({"cluster": cluster, "kind": if ns.is_some() { "Role" } else { "ClusterRole" }, "rules": rules});
                if let Some(ns) = ns {
                    o["namespace"] = json!(ns);
                }
                o
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            region: "sa-east-1".into(),
            account: "444455556666".into(),
        }
    }

    fn one(resource: &str, params: Value) -> Value {
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": params, "End": true}}})
    }

    #[test]
    fn create_cluster_sync_matches_the_seed_template_narrowed_to_its_name() {
        let p = iam_policy(
            &one(
                "arn:aws:states:::eks:createCluster.sync",
                json!({"Name": "MyCluster", "RoleArn": "arn:aws:iam::444455556666:role/EKSServiceRole"}),
            ),
            &scope(),
        );
        let s = p["Statement"].as_array().unwrap();
        assert!(s.contains(&json!({"Effect": "Allow", "Action": ["eks:CreateCluster"], "Resource": "*"})));
        assert!(s.contains(
            &json!({"Effect": "Allow", "Action": ["eks:DescribeCluster", "eks:DeleteCluster"],
            "Resource": "arn:aws:eks:sa-east-1:444455556666:cluster/MyCluster"})
        ));
        assert!(s.contains(&json!({"Effect": "Allow", "Action": ["iam:PassRole"],
            "Resource": "arn:aws:iam::444455556666:role/EKSServiceRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "eks.amazonaws.com"}}})));
        assert_eq!(s.len(), 3);
        for st in s {
            for a in st["Action"].as_array().unwrap() {
                assert!(!a.as_str().unwrap().contains('*'), "wildcard action {a}");
            }
        }
    }

    #[test]
    fn nodegroup_and_delete_statements_and_paths_leave_a_wildcard() {
        let def = json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::eks:createNodegroup.sync",
                  "Parameters": {"ClusterName.$": "$.c", "NodegroupName": "ng", "NodeRole": "arn:aws:iam::444455556666:role/Node"}, "Next": "B"},
            "B": {"Type": "Task", "Resource": "arn:aws:states:::eks:deleteNodegroup", "Parameters": {"ClusterName": "c1", "NodegroupName": "ng"}, "End": true}}});
        let p = iam_policy(&def, &scope());
        let s = p["Statement"].as_array().unwrap();
        assert!(s.contains(
            &json!({"Effect": "Allow", "Action": ["eks:DescribeNodegroup", "eks:DeleteNodegroup"],
            "Resource": "arn:aws:eks:sa-east-1:444455556666:nodegroup/*/ng/*"})
        ));
        assert!(s.contains(&json!({"Effect": "Allow", "Action": ["eks:DeleteNodegroup"],
            "Resource": "arn:aws:eks:sa-east-1:444455556666:nodegroup/c1/ng/*"})));
        assert!(s.contains(
            &json!({"Effect": "Allow", "Action": ["ec2:DescribeSubnets", "eks:CreateNodegroup"], "Resource": "*"})
        ));
    }

    #[test]
    fn rbac_rules_for_the_seed_calls_and_a_run_job() {
        let def = json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::eks:call", "Parameters": {"ClusterName": "MyCluster",
                  "Method": "GET", "Path": "/api/v1/namespaces/default/pods", "QueryParameters": {"labelSelector": ["job-name=example-job"]}}, "Next": "B"},
            "B": {"Type": "Task", "Resource": "arn:aws:states:::eks:call", "Parameters": {"ClusterName": "MyCluster",
                  "Method": "DELETE", "Path": "/apis/batch/v1/namespaces/default/jobs/example-job"}, "Next": "C"},
            "C": {"Type": "Task", "Resource": "arn:aws:states:::eks:runJob.sync", "Parameters": {"ClusterName": "MyCluster",
                  "LogOptions": {"RetrieveLogs": true}, "Job": {}}, "End": true}}});
        let r = rbac(&def);
        let roles = r.as_array().unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0]["kind"], "Role");
        assert_eq!(roles[0]["namespace"], "default");
        let rules = roles[0]["rules"].as_array().unwrap();
        assert!(rules.contains(&json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]})));
        assert!(rules.contains(&json!({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["delete"], "resourceNames": ["example-job"]})));
        assert!(rules.contains(&json!({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]})));
        assert!(rules.contains(&json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})));
    }
}
