//! The parameters of `eks:call` and `eks:runJob`, checked as Step Functions
//! checks them: an unknown or missing field, or one of the wrong type, fails
//! the task with `States.Runtime` ("The Parameters ... could not be used to
//! start the Task: [...]") and, when the definition has it literally, fails
//! validation.

use crate::asl::StateError;
use base64::Engine as _;
use serde_json::{Map, Value};

/// The fields of `eks:call`.
pub const CALL_FIELDS: &[&str] = &[
    "ClusterName",
    "CertificateAuthority",
    "Endpoint",
    "Method",
    "Path",
    "QueryParameters",
    "RequestBody",
];

/// The fields of `eks:runJob`.
pub const RUN_JOB_FIELDS: &[&str] = &[
    "ClusterName",
    "CertificateAuthority",
    "Endpoint",
    "Namespace",
    "Job",
    "LogOptions",
];

const LOG_OPTION_FIELDS: &[&str] = &["RetrieveLogs", "RawLogs", "LogParameters"];

/// Where and how to reach the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cluster {
    /// `ClusterName`: picks configured credentials, and is the cluster an
    /// EKS token is made for.
    pub name: String,
    /// `Endpoint`, an `https://` URL.
    pub endpoint: String,
    /// `CertificateAuthority`, decoded: the CA certificates (DER) the server
    /// certificate must chain to.
    pub ca_der: Vec<Vec<u8>>,
}

/// `eks:call`'s request.
#[derive(Debug, Clone)]
pub struct Call {
    /// The cluster.
    pub cluster: Cluster,
    /// GET, POST, PUT, DELETE, HEAD or PATCH.
    pub method: http::Method,
    /// The path, starting with `/`.
    pub path: String,
    /// `QueryParameters`, in order.
    pub query: Vec<(String, String)>,
    /// `RequestBody`: JSON values are sent as JSON, strings as they are.
    pub body: Option<Value>,
}

/// `eks:runJob`'s request.
#[derive(Debug, Clone)]
pub struct RunJob {
    /// The cluster.
    pub cluster: Cluster,
    /// `Namespace` (default `default`).
    pub namespace: String,
    /// The Job object.
    pub job: Map<String, Value>,
    /// `LogOptions`.
    pub logs: LogOptions,
}

/// `LogOptions` of `eks:runJob.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogOptions {
    /// `RetrieveLogs`.
    pub retrieve: bool,
    /// `RawLogs`: keep each log a string.
    pub raw: bool,
    /// `LogParameters` (`tailLines`, `limitBytes`, ...), as query pairs.
    pub parameters: Vec<(String, String)>,
}

/// The `States.Runtime` error Step Functions raises for parameters it
/// cannot use.
pub fn bad(params: &Value, problems: &[String]) -> StateError {
    StateError::runtime(format!(
        "The Parameters '{params}' could not be used to start the Task: [{}]",
        problems.join(", ")
    ))
}

/// Problems with the field names and literal types of a Task's `Parameters`
/// as written in the definition (`.$` fields are checked at run time).
pub fn check_static(params: &Value, allowed: &[&str]) -> Vec<String> {
    let Some(obj) = params.as_object() else {
        return Vec::new(); // the definition's own validation reports it
    };
    let mut out = Vec::new();
    for k in obj.keys() {
        let name = k.strip_suffix(".$").unwrap_or(k);
        if !allowed.contains(&name) {
            out.push(format!("The field \"{name}\" is not supported by Step Functions"));
        }
    }
    if let Some(lo) = obj.get("LogOptions").and_then(Value::as_object) {
        for k in lo.keys() {
            let name = k.strip_suffix(".$").unwrap_or(k);
            if !LOG_OPTION_FIELDS.contains(&name) {
                out.push(format!(
                    "The field \"LogOptions.{name}\" is not supported by Step Functions"
                ));
            }
        }
    }
    out
}

struct Reader<'a> {
    obj: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(params: &'a Value, allowed: &[&str]) -> Result<Reader<'a>, StateError> {
        let obj = params
            .as_object()
            .ok_or_else(|| bad(params, &["The Parameters must be a JSON object".into()]))?;
        Ok(Reader {
            obj,
            problems: check_static(params, allowed),
        })
    }

    fn string(&mut self, key: &str, required: bool) -> Option<&'a str> {
        match self.obj.get(key) {
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.problems
                    .push(format!("The value of the field \"{key}\" must be a string"));
                None
            }
            None => {
                if required {
                    self.problems
                        .push(format!("The field \"{key}\" is required but was missing"));
                }
                None
            }
        }
    }

    fn string_lists(&mut self, key: &str, v: Option<&'a Value>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(v) = v else { return out };
        let Some(map) = v.as_object() else {
            self.problems.push(format!(
                "The value of the field \"{key}\" must be a map from strings to lists of strings"
            ));
            return out;
        };
        for (k, list) in map {
            match list.as_array() {
                Some(items) if items.iter().all(Value::is_string) => {
                    out.extend(items.iter().map(|i| (k.clone(), i.as_str().unwrap_or("").to_string())))
                }
                _ => self
                    .problems
                    .push(format!("The value of \"{key}.{k}\" must be a list of strings")),
            }
        }
        out
    }

    fn cluster(&mut self) -> Option<Cluster> {
        let name = self.string("ClusterName", true);
        let ca = self.string("CertificateAuthority", true);
        let endpoint = self.string("Endpoint", true);
        let ca_der = ca.and_then(|ca| match decode_ca(ca) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problems.push(e);
                None
            }
        });
        let endpoint = endpoint.and_then(|e| match check_endpoint(e) {
            Ok(()) => Some(e),
            Err(m) => {
                self.problems.push(m);
                None
            }
        });
        Some(Cluster {
            name: name?.to_string(),
            endpoint: endpoint?.trim_end_matches('/').to_string(),
            ca_der: ca_der?,
        })
    }

    fn finish<T>(self, params: &Value, t: Option<T>) -> Result<T, StateError> {
        match t {
            Some(t) if self.problems.is_empty() => Ok(t),
            _ => Err(bad(params, &self.problems)),
        }
    }
}

/// A cluster from its `ClusterName`, `Endpoint` and `CertificateAuthority`
/// (base64 of PEM), checked as the Parameters of `eks:call` are.
pub fn cluster(name: &str, endpoint: &str, ca: &str) -> Result<Cluster, String> {
    if name.is_empty() {
        return Err("The field \"ClusterName\" must not be empty".into());
    }
    check_endpoint(endpoint)?;
    Ok(Cluster {
        name: name.to_string(),
        endpoint: endpoint.trim_end_matches('/').to_string(),
        ca_der: decode_ca(ca)?,
    })
}

/// `CertificateAuthority` is base64 of one or more PEM certificates.
fn decode_ca(ca: &str) -> Result<Vec<Vec<u8>>, String> {
    let pem_text = base64::engine::general_purpose::STANDARD
        .decode(ca.trim())
        .map_err(|_| "The field \"CertificateAuthority\" is not valid base64".to_string())?;
    let certs: Vec<Vec<u8>> = pem::parse_many(&pem_text)
        .map_err(|_| "The field \"CertificateAuthority\" is not a base64-encoded PEM certificate".to_string())?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .collect();
    if certs.is_empty() {
        return Err("The field \"CertificateAuthority\" holds no PEM certificate".into());
    }
    Ok(certs)
}

fn check_endpoint(e: &str) -> Result<(), String> {
    let uri: http::Uri = e
        .parse()
        .map_err(|_| format!("The field \"Endpoint\" is not a URL: {e}"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(format!("The field \"Endpoint\" must be an https:// URL: {e}"));
    }
    if uri.query().is_some() {
        return Err("The field \"Endpoint\" must not have a query".into());
    }
    Ok(())
}

/// Reads `eks:call`'s parameters.
pub fn call(params: &Value) -> Result<Call, StateError> {
    let mut r = Reader::new(params, CALL_FIELDS)?;
    let cluster = r.cluster();
    let method = r.string("Method", true).and_then(|m| match m {
        "GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "PATCH" => m.parse::<http::Method>().ok(),
        _ => {
            r.problems.push(format!(
                "The value of the field \"Method\" must be one of GET, POST, PUT, DELETE, HEAD, PATCH, not \"{m}\""
            ));
            None
        }
    });
    let path = r.string("Path", true).and_then(|p| {
        if !p.starts_with('/') || p.contains(['?', '#']) || p.chars().any(char::is_whitespace) {
            r.problems.push(format!(
                "The value of the field \"Path\" must be a URL path starting with \"/\", without query or fragment (use QueryParameters), not \"{p}\""
            ));
            None
        } else {
            Some(p.to_string())
        }
    });
    let obj = r.obj;
    let query = r.string_lists("QueryParameters", obj.get("QueryParameters"));
    let body = obj.get("RequestBody").cloned();
    let call = (|| {
        Some(Call {
            cluster: cluster?,
            method: method?,
            path: path?,
            query,
            body,
        })
    })();
    r.finish(params, call)
}

/// Reads `eks:runJob`'s parameters.
pub fn run_job(params: &Value) -> Result<RunJob, StateError> {
    let mut r = Reader::new(params, RUN_JOB_FIELDS)?;
    let cluster = r.cluster();
    let namespace = r.string("Namespace", false).unwrap_or("default").to_string();
    let obj = r.obj;
    let job = match obj.get("Job") {
        Some(Value::Object(m)) => Some(m.clone()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Some(m),
            _ => {
                r.problems
                    .push("The value of the field \"Job\" is a string that is not a JSON object".into());
                None
            }
        },
        Some(_) => {
            r.problems
                .push("The value of the field \"Job\" must be a JSON object or a string".into());
            None
        }
        None => {
            r.problems.push("The field \"Job\" is required but was missing".into());
            None
        }
    };
    let logs = match obj.get("LogOptions") {
        None => Some(LogOptions::default()),
        Some(Value::Object(lo)) => {
            let flag = |r: &mut Reader, k: &str| match lo.get(k) {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    r.problems
                        .push(format!("The value of the field \"LogOptions.{k}\" must be a boolean"));
                    false
                }
            };
            let retrieve = flag(&mut r, "RetrieveLogs");
            let raw = flag(&mut r, "RawLogs");
            let parameters = r.string_lists("LogOptions.LogParameters", lo.get("LogParameters"));
            Some(LogOptions {
                retrieve,
                raw,
                parameters,
            })
        }
        Some(_) => {
            r.problems
                .push("The value of the field \"LogOptions\" must be a JSON object".into());
            None
        }
    };
    if let Some(j) = &job {
        for (k, want) in [("apiVersion", "batch/v1"), ("kind", "Job")] {
            if let Some(v) = j.get(k) {
                if v.as_str() != Some(want) {
                    r.problems.push(format!(
                        "eks:runJob runs batch/v1 Jobs only: \"Job.{k}\" must be \"{want}\", not {v}"
                    ));
                }
            }
        }
    }
    let run = (|| {
        Some(RunJob {
            cluster: cluster?,
            namespace,
            job: job?,
            logs: logs?,
        })
    })();
    r.finish(params, run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0Y0\n-----END CERTIFICATE-----\n";

    fn ca() -> String {
        base64::engine::general_purpose::STANDARD.encode(PEM)
    }

    #[test]
    fn a_call_reads_every_field() {
        let p = json!({"ClusterName": "c", "CertificateAuthority": ca(), "Endpoint": "https://k.example:6443/",
            "Method": "GET", "Path": "/api/v1/namespaces/default/pods",
            "QueryParameters": {"labelSelector": ["job-name=x"], "limit": ["5", "6"]}, "RequestBody": {"a": 1}});
        let c = call(&p).unwrap();
        assert_eq!(c.cluster.endpoint, "https://k.example:6443");
        assert_eq!(c.cluster.ca_der.len(), 1);
        assert_eq!(c.method, http::Method::GET);
        assert_eq!(
            c.query,
            vec![
                ("labelSelector".into(), "job-name=x".into()),
                ("limit".into(), "5".into()),
                ("limit".into(), "6".into())
            ]
        );
        assert_eq!(c.body, Some(json!({"a": 1})));
    }

    #[test]
    fn every_problem_is_listed_in_the_aws_shape() {
        let p = json!({"ClusterName": 3, "CertificateAuthority": "%%%", "Endpoint": "http://x",
            "Method": "TRACE", "Path": "api?x", "Bogus": 1, "QueryParameters": {"a": "b"}});
        let e = call(&p).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        for want in [
            "could not be used to start the Task",
            "\"Bogus\" is not supported",
            "\"ClusterName\" must be a string",
            "not valid base64",
            "must be an https:// URL",
            "\"Method\" must be one of",
            "\"Path\" must be a URL path",
            "QueryParameters.a",
        ] {
            assert!(e.cause.contains(want), "{want} not in {}", e.cause);
        }
        let e = call(&json!({"Method": "GET"})).unwrap_err();
        assert!(e.cause.contains("\"Path\" is required but was missing"), "{}", e.cause);
        assert!(e.cause.contains("\"ClusterName\" is required"), "{}", e.cause);
    }

    #[test]
    fn run_job_takes_a_job_as_json_or_string() {
        let base = json!({"ClusterName": "c", "CertificateAuthority": ca(), "Endpoint": "https://k"});
        let mut p = base.clone();
        p["Job"] = json!("{\"apiVersion\": \"batch/v1\", \"kind\": \"Job\", \"metadata\": {\"name\": \"j\"}}");
        p["LogOptions"] = json!({"RetrieveLogs": true, "LogParameters": {"tailLines": ["6"]}});
        let r = run_job(&p).unwrap();
        assert_eq!(r.namespace, "default");
        assert_eq!(r.job["metadata"]["name"], "j");
        assert!(r.logs.retrieve && !r.logs.raw);
        assert_eq!(r.logs.parameters, vec![("tailLines".into(), "6".into())]);
        let mut p = base.clone();
        p["Job"] = json!({"apiVersion": "v1", "kind": "Pod"});
        p["LogOptions"] = json!({"Retrieve": true});
        let e = run_job(&p).unwrap_err();
        assert!(e.cause.contains("batch/v1 Jobs only"), "{}", e.cause);
        assert!(
            e.cause.contains("LogOptions.Retrieve\" is not supported"),
            "{}",
            e.cause
        );
        assert!(run_job(&base).unwrap_err().cause.contains("\"Job\" is required"));
    }

    #[test]
    fn static_check_ignores_the_dollar_suffix() {
        assert!(check_static(&json!({"ClusterName.$": "$.c", "Path": "/"}), CALL_FIELDS).is_empty());
        assert_eq!(check_static(&json!({"Nope.$": "$.c"}), CALL_FIELDS).len(), 1);
    }
}
