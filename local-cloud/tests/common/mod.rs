//! A small HTTPS client for the tests: one connection per request, trusting the emulator's CA.

#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Client {
    pub addr: std::net::SocketAddr,
    pub token: Option<String>,
    tls: tokio_rustls::TlsConnector,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn start(opts: aslan_local_cloud::Options) -> (aslan_local_cloud::Handle, Client) {
    let h = aslan_local_cloud::start(opts).await.expect("start");
    let cfg = aslan_local_cloud::client_config(&h.ca_pem).expect("client config");
    let c = Client {
        addr: h.addr,
        token: Some(h.token.clone()),
        tls: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
    };
    (h, c)
}

pub async fn start_default() -> (aslan_local_cloud::Handle, Client) {
    start(aslan_local_cloud::Options::default()).await
}

impl Client {
    pub fn with_token(&self, token: Option<&str>) -> Client {
        Client {
            addr: self.addr,
            token: token.map(String::from),
            tls: self.tls.clone(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Option<String>,
        accept: Option<&str>,
    ) -> hyper::Response<hyper::body::Incoming> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let tls = self.tls.connect(name, tcp).await.expect("TLS handshake");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut b = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        sender.send_request(req).await.expect("send")
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Option<String>,
        accept: Option<&str>,
    ) -> Resp {
        let r = self.send(method, path, ct, body, accept).await;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, None, None).await
    }

    pub async fn post(&self, path: &str, v: &Value) -> Resp {
        self.call("POST", path, Some("application/json"), Some(v.to_string()), None)
            .await
    }

    pub async fn put(&self, path: &str, v: &Value) -> Resp {
        self.call("PUT", path, Some("application/json"), Some(v.to_string()), None)
            .await
    }

    pub async fn patch(&self, path: &str, ct: &str, v: &Value) -> Resp {
        self.call("PATCH", path, Some(ct), Some(v.to_string()), None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None, None, None).await
    }

    /// A streamed response, line by line.
    pub async fn lines(&self, path: &str) -> mpsc::Receiver<String> {
        let r = self.send("GET", path, None, None, None).await;
        assert_eq!(r.status().as_u16(), 200);
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut body = r.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=i).collect();
                        if tx
                            .send(String::from_utf8_lossy(&line).trim_end().to_string())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        rx
    }
}

/// Waits for the next watch event (parsed), or panics after `secs`.
pub async fn next_event(rx: &mut mpsc::Receiver<String>, secs: u64) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("stream ended");
    serde_json::from_str(&line).expect("event JSON")
}

pub fn job(name: &str, annotations: Value) -> Value {
    serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"metadata": {"annotations": annotations},
                 "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}
    })
}

/// Polls a Job until it has the `Complete` or `Failed` condition.
pub async fn wait_finished(c: &Client, ns: &str, name: &str) -> Value {
    for _ in 0..500 {
        let j = c
            .get(&format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}"))
            .await
            .json();
        let done = j["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Complete" || c["type"] == "Failed"));
        if done {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {ns}/{name} did not finish");
}

pub fn condition_types(job: &Value) -> Vec<String> {
    job["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| c["type"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}
