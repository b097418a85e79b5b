//! A small blocking client for the server's API (what the `aslan
//! executions ...` commands use). Signs requests with SigV4 when given
//! credentials.

use super::sigv4::{self, Credentials};
use serde_json::Value;

/// A client of one endpoint.
pub struct Client {
    endpoint: String,
    host: String,
    region: String,
    credentials: Option<Credentials>,
    agent: ureq::Agent,
}

/// A failed call: transport trouble, or an AWS-shaped error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not talk to the server.
    #[error("cannot reach {0}: {1}")]
    Transport(String, String),
    /// The server answered with an error.
    #[error("{kind}: {message}")]
    Api {
        /// `__type`.
        kind: String,
        /// `message`.
        message: String,
    },
}

impl Client {
    /// A client for `endpoint` (e.g. `http://127.0.0.1:8083`).
    pub fn new(endpoint: &str, region: &str, credentials: Option<Credentials>) -> Client {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let host = endpoint
            .split("://")
            .nth(1)
            .unwrap_or(&endpoint)
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        Client {
            endpoint,
            host,
            region: region.to_string(),
            credentials,
            agent,
        }
    }

    /// Calls `AWSStepFunctions.<op>` with `body`.
    pub fn call(&self, op: &str, body: &Value) -> Result<Value, ClientError> {
        let body = body.to_string();
        let target = format!("AWSStepFunctions.{op}");
        let mut req = self
            .agent
            .post(&format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", &target);
        if let Some(c) = &self.credentials {
            let headers = vec![
                ("content-type".to_string(), "application/x-amz-json-1.0".to_string()),
                ("host".to_string(), self.host.clone()),
                ("x-amz-target".to_string(), target.clone()),
            ];
            let r = sigv4::SignedRequest {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: body.as_bytes(),
            };
            let (date, auth) = sigv4::sign(&r, c, &self.region, "states", chrono::Utc::now());
            req = req.header("x-amz-date", &date).header("authorization", &auth);
        }
        let mut resp = req
            .send(body.as_bytes())
            .map_err(|e| ClientError::Transport(self.endpoint.clone(), e.to_string()))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Transport(self.endpoint.clone(), e.to_string()))?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(v)
        } else {
            Err(ClientError::Api {
                kind: v["__type"].as_str().unwrap_or("UnknownError").to_string(),
                message: v["message"].as_str().unwrap_or_default().to_string(),
            })
        }
    }
}
