//! A small blocking client for the server's API (what the `aslan
//! executions ...` commands use). Signs requests with SigV4 when given
//! credentials. Speaks `http://` and `https://` (rustls with the ring
//! provider; server certificates are checked against the Mozilla roots
//! bundled by `webpki-roots`).

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
    /// A client for `endpoint` (e.g. `http://127.0.0.1:8083` or
    /// `https://states.example.com`).
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
        self.call_at("/", op, body)
    }

    /// Calls `AWSStepFunctions.<op>` with `body` at `path` (`/aslan/modules`
    /// takes large bodies).
    pub fn call_at(&self, path: &str, op: &str, body: &Value) -> Result<Value, ClientError> {
        let body = body.to_string();
        let target = format!("AWSStepFunctions.{op}");
        let mut req = self
            .agent
            .post(&format!("{}{path}", self.endpoint))
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
                path,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn an_https_endpoint_gets_a_tls_client_hello() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read timeout");
            let mut first = [0u8; 3];
            let got = conn.read_exact(&mut first).map(|()| first);
            // Dropping the connection ends the handshake on the client's side.
            let _ = tx.send(got.map_err(|e| e.to_string()));
        });
        let client = Client::new(&format!("https://127.0.0.1:{port}"), "us-east-1", None);
        let err = client
            .call("ListStateMachines", &serde_json::json!({}))
            .expect_err("nothing answers TLS here");
        assert!(matches!(err, ClientError::Transport(..)), "{err}");
        let first = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("the client never connected: {err}"))
            .unwrap_or_else(|e| panic!("the client sent no TLS record ({e}); it said: {err}"));
        // A TLS record: handshake (22), protocol version 3.x.
        assert_eq!(first[0], 0x16, "not a TLS handshake record: {first:02x?}");
        assert_eq!(first[1], 0x03, "not a TLS record version: {first:02x?}");
    }
}
