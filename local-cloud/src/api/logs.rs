//! `GET /api/v1/namespaces/{ns}/pods/{pod}/log`.

use super::body::{self, RespBody};
use super::Req;
use crate::kinds::Kind;
use crate::logstore::LogBuf;
use crate::state::Shared;
use crate::status::ApiError;
use crate::util;
use bytes::Bytes;
use http::{HeaderValue, Response};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;

fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn waiting_reason(pod: &Value, container: &str) -> Option<String> {
    let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
    let st = statuses.and_then(|cs| {
        cs.iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
    });
    match st {
        None => Some("ContainerCreating".into()),
        Some(s) => s.pointer("/state/waiting").map(|w| {
            w.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("ContainerCreating")
                .to_string()
        }),
    }
}

/// Applies `timestamps`, `tailLines` and `limitBytes` to a log snapshot.
fn render(buf: &LogBuf, timestamps: bool, tail: Option<usize>, limit: Option<usize>) -> (Vec<u8>, u64) {
    let snap = buf.snapshot();
    let end = snap.start + snap.data.len() as u64;
    let mut lines: Vec<(u64, &[u8])> = Vec::new();
    let mut off = snap.start;
    for chunk in snap.data.split_inclusive(|b| *b == b'\n') {
        lines.push((off, chunk));
        off += chunk.len() as u64;
    }
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = Vec::new();
    for (off, l) in lines {
        if timestamps {
            let ts = buf.line_time(off).unwrap_or_else(jiff::Timestamp::now);
            out.extend_from_slice(util::rfc3339_nanos(ts).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(l);
    }
    if let Some(l) = limit {
        out.truncate(l);
    }
    (out, end)
}

pub async fn pod_log(state: &Shared, req: &Req, ns: &str, name: &str) -> Result<Response<RespBody>, ApiError> {
    let pod = state
        .store
        .get(Kind::Pod, ns, name)
        .ok_or_else(|| ApiError::not_found(Kind::Pod, name))?;
    let names = container_names(&pod);
    let container = match req.q("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !names.iter().any(|n| n == c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )))
        }
    };
    let parse = |k: &str| -> Result<Option<usize>, ApiError> {
        match req.q(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| Some(n as usize))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{k}: Invalid value: \"{v}\": must be greater than or equal to 0"
                    ))
                }),
        }
    };
    let tail = parse("tailLines")?;
    let limit = parse("limitBytes")?;
    if limit == Some(0) {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PodLogOptions \"\" is invalid: limitBytes: Invalid value: 0: must be greater than 0",
        ));
    }
    let timestamps = req.q_bool("timestamps");
    let follow = req.q_bool("follow");
    let buf = match state.logs.get(ns, name, &container) {
        Some(b) => b,
        None => {
            let why = waiting_reason(&pod, &container).unwrap_or_else(|| "ContainerCreating".into());
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: {why}"
            )));
        }
    };
    let (first, start_off) = render(&buf, timestamps, tail, limit);
    if !follow {
        return Ok(body::text(200, first));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(follow_log(buf, first, start_off, limit, timestamps, tx));
    let mut r = Response::new(body::stream(rx));
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

async fn follow_log(
    buf: Arc<LogBuf>,
    first: Vec<u8>,
    mut off: u64,
    limit: Option<usize>,
    timestamps: bool,
    tx: mpsc::Sender<Bytes>,
) {
    let mut sent = first.len();
    if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
        return;
    }
    let mut changes = buf.subscribe();
    loop {
        if limit.is_some_and(|l| sent >= l) {
            return;
        }
        let (data, from, finished) = buf.read_from(off);
        if !data.is_empty() {
            let mut out = Vec::new();
            let mut o = from;
            for chunk in data.split_inclusive(|b| *b == b'\n') {
                if timestamps {
                    let ts = buf.line_time(o).unwrap_or_else(jiff::Timestamp::now);
                    out.extend_from_slice(util::rfc3339_nanos(ts).as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(chunk);
                o += chunk.len() as u64;
            }
            off = from + data.len() as u64;
            if let Some(l) = limit {
                out.truncate(l - sent);
            }
            sent += out.len();
            if tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
            continue;
        }
        if finished {
            return;
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = tx.closed() => return,
        }
    }
}
