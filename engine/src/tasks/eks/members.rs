//! The request members of the EKS operations, and the translation between
//! Step Functions' PascalCase parameters and results and the EKS API's
//! camelCase JSON.
//!
//! `members.json` lists, for each operation, every member the EKS API
//! accepts, nested; `scripts/gen-eks-members.py` generates it from the
//! request serializers of aws-sdk-eks (which are generated from the EKS API
//! model). A parameter that is not a member is refused, with its location.

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The kind of a member's value.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Scalar,
    Object(String),
    List(Box<Kind>),
    /// Free-form keys (tags, labels): kept as they are.
    Map(Box<Kind>),
}

struct Schema {
    ops: Map<String, Value>,
    shapes: Map<String, Value>,
}

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let v: Value = serde_json::from_str(include_str!("members.json")).expect("members.json is valid JSON");
        Schema {
            ops: v["operations"].as_object().cloned().unwrap_or_default(),
            shapes: v["shapes"].as_object().cloned().unwrap_or_default(),
        }
    })
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(s)) = o.get("object") {
                Kind::Object(s.clone())
            } else if let Some(k) = o.get("list") {
                Kind::List(Box::new(kind(k)))
            } else if let Some(k) = o.get("map") {
                Kind::Map(Box::new(kind(k)))
            } else {
                Kind::Scalar
            }
        }
        _ => Kind::Scalar,
    }
}

/// `ResourcesVpcConfig` → `resourcesVpcConfig`.
pub fn camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// `resourcesVpcConfig` → `ResourcesVpcConfig`.
pub fn pascal(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// The members of `op` (`CreateCluster`, ...), or `None` for an unknown
/// operation.
fn members(op: &str) -> Option<&'static Map<String, Value>> {
    schema().ops.get(op)?.as_object()
}

/// The EKS request for Step Functions parameters: PascalCase keys become
/// camelCase members, except inside free-form maps (tags, labels). Every
/// parameter that is not a member of the request is a problem, named with
/// its location (`ResourcesVpcConfig.SubnetId`).
pub fn to_request(op: &str, params: &Value) -> Result<Value, Vec<String>> {
    let Some(members) = members(op) else {
        return Err(vec![format!("{op} is not an EKS operation Step Functions integrates")]);
    };
    let Some(obj) = params.as_object() else {
        return Err(vec!["The Parameters must be a JSON object".into()]);
    };
    let mut problems = Vec::new();
    let out = object(obj, members, "", &mut problems);
    if problems.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(problems)
    }
}

fn object(
    obj: &Map<String, Value>,
    members: &Map<String, Value>,
    at: &str,
    problems: &mut Vec<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        let name = k.strip_suffix(".$").unwrap_or(k);
        let here = if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        };
        let member = camel(name);
        match members.get(&member) {
            Some(kd) if pascal(&member) == name => {
                out.insert(member, value(v, &kind(kd), &here, problems));
            }
            _ => problems.push(format!("The field \"{here}\" is not supported by Step Functions")),
        }
    }
    out
}

fn value(v: &Value, k: &Kind, at: &str, problems: &mut Vec<String>) -> Value {
    match (k, v) {
        (Kind::Scalar, Value::Object(_) | Value::Array(_)) => {
            problems.push(format!("The value of \"{at}\" must be a string, number or boolean"));
            Value::Null
        }
        (Kind::Scalar, v) => v.clone(),
        (Kind::Object(shape), Value::Object(o)) => match schema().shapes.get(shape).and_then(Value::as_object) {
            Some(m) => Value::Object(object(o, m, at, problems)),
            None => v.clone(),
        },
        (Kind::List(inner), Value::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| value(it, inner, &format!("{at}[{i}]"), problems))
                .collect(),
        ),
        (Kind::Map(inner), Value::Object(o)) => Value::Object(
            o.iter()
                .map(|(key, it)| (key.clone(), value(it, inner, &format!("{at}.{key}"), problems)))
                .collect(),
        ),
        (Kind::Object(_) | Kind::Map(_), _) => {
            problems.push(format!("The value of \"{at}\" must be a JSON object"));
            Value::Null
        }
        (Kind::List(_), _) => {
            problems.push(format!("The value of \"{at}\" must be a JSON array"));
            Value::Null
        }
    }
}

/// Problems with the literal parameter names of a definition (values are
/// only known at run time).
pub fn check_static(op: &str, params: &Value) -> Vec<String> {
    match to_request(op, params) {
        Ok(_) => Vec::new(),
        Err(p) => p.into_iter().filter(|m| m.contains("is not supported")).collect(),
    }
}

/// An EKS response in Step Functions' shape: every key PascalCase, except
/// the keys of free-form maps (`tags`, `labels`).
pub fn to_result(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let free_form = matches!(k.as_str(), "tags" | "labels") && v.is_object();
                    let v = if free_form { v } else { to_result(v) };
                    (pascal(&k), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(to_result).collect()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_parameters_become_the_eks_request() {
        let p = json!({"Name": "MyCluster", "ResourcesVpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"]},
                       "RoleArn": "arn:aws:iam::123456789012:role/MyEKSClusterRole",
                       "Tags": {"Team": "a", "cost-center": "b"}});
        assert_eq!(
            to_request("CreateCluster", &p).unwrap(),
            json!({"name": "MyCluster", "resourcesVpcConfig": {"subnetIds": ["subnet-1", "subnet-2"]},
                   "roleArn": "arn:aws:iam::123456789012:role/MyEKSClusterRole",
                   "tags": {"Team": "a", "cost-center": "b"}})
        );
        let p = json!({"ClusterName": "MyCluster", "FargateProfileName": "fp",
                       "PodExecutionRoleArn": "arn:aws:iam::1:role/r",
                       "Selectors": [{"Namespace": "my-namespace", "Labels": {"my-label": "my-value"}}]});
        assert_eq!(
            to_request("CreateFargateProfile", &p).unwrap()["selectors"],
            json!([{"namespace": "my-namespace", "labels": {"my-label": "my-value"}}])
        );
        let p = json!({"ClusterName": "c", "NodegroupName": "n", "NodeRole": "r", "Subnets": ["s"],
                       "ScalingConfig": {"MinSize": 1, "MaxSize": 2, "DesiredSize": 1},
                       "Taints": [{"Key": "k", "Value": "v", "Effect": "NO_SCHEDULE"}], "Labels": {"Env": "x"}});
        let r = to_request("CreateNodegroup", &p).unwrap();
        assert_eq!(r["scalingConfig"]["desiredSize"], 1);
        assert_eq!(r["taints"][0]["effect"], "NO_SCHEDULE");
        assert_eq!(r["labels"], json!({"Env": "x"}));
    }

    #[test]
    fn unknown_members_are_named_with_their_location() {
        let p = json!({"Name": "c", "ResourcesVpcConfig": {"SubnetId": "s"}, "name": "lower", "Bogus.$": "$.x",
                       "EncryptionConfig": [{"Provider": {"KeyArn": "k", "Kms": 1}}]});
        let e = to_request("CreateCluster", &p).unwrap_err();
        assert!(
            e.contains(&"The field \"ResourcesVpcConfig.SubnetId\" is not supported by Step Functions".to_string()),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.contains("\"name\"")),
            "camelCase is not PascalCase: {e:?}"
        );
        assert!(e.iter().any(|m| m.contains("\"Bogus\"")), "{e:?}");
        assert!(
            e.iter().any(|m| m.contains("EncryptionConfig[0].Provider.Kms")),
            "{e:?}"
        );
        assert_eq!(
            check_static("DeleteCluster", &json!({"Name": "c"})),
            Vec::<String>::new()
        );
        assert_eq!(
            check_static("DeleteCluster", &json!({"Name": "c", "Force": true})).len(),
            1
        );
        let e = to_request("CreateCluster", &json!({"ResourcesVpcConfig": ["x"]})).unwrap_err();
        assert!(e[0].contains("must be a JSON object"), "{e:?}");
    }

    #[test]
    fn results_are_pascal_case_but_tags_and_labels_keep_their_keys() {
        let r = to_result(
            json!({"cluster": {"name": "c", "status": "ACTIVE", "certificateAuthority": {"data": "QUJD"},
            "tags": {"team-name": "x"}, "health": {"issues": [{"code": "X", "resourceIds": ["i"]}]}}}),
        );
        assert_eq!(
            r,
            json!({"Cluster": {"Name": "c", "Status": "ACTIVE", "CertificateAuthority": {"Data": "QUJD"},
                "Tags": {"team-name": "x"}, "Health": {"Issues": [{"Code": "X", "ResourceIds": ["i"]}]}}})
        );
    }
}
