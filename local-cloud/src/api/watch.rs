//! `?watch=true`: newline-delimited JSON watch events, streamed as changes happen.

use super::body::{self, RespBody};
use super::crud::include_object;
use super::Req;
use crate::kinds::Kind;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::status::ApiError;
use crate::store::EventType;
use crate::table::{self, IncludeObject};
use crate::util;
use bytes::Bytes;
use http::{HeaderValue, Response};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The longest a watch stays open without `timeoutSeconds` (a real server picks 30–60 minutes).
const DEFAULT_TIMEOUT: u64 = 1800;
/// How often BOOKMARK events are sent when asked for.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

struct Filter {
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, o: &Value) -> bool {
        self.ns.as_deref().is_none_or(|ns| util::namespace(o) == ns) && self.labels.matches(o) && self.fields.matches(o)
    }
}

struct Encoder {
    kind: Kind,
    table: bool,
    include: IncludeObject,
    columns_sent: bool,
}

impl Encoder {
    fn event(&mut self, etype: &str, obj: &Value) -> Bytes {
        let object = if self.table {
            let mut t = table::table(self.kind, &[obj], None, self.include, !self.columns_sent);
            self.columns_sent = true;
            t["metadata"]["resourceVersion"] = util::meta_str(obj, "resourceVersion").into();
            t
        } else {
            obj.clone()
        };
        line(&json!({"type": etype, "object": object}))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            &json!({"type": "BOOKMARK", "object": {"kind": self.kind.kind(), "apiVersion": self.kind.api_version(), "metadata": meta}}),
        )
    }
}

fn line(v: &Value) -> Bytes {
    let mut s = serde_json::to_vec(v).unwrap_or_default();
    s.push(b'\n');
    Bytes::from(s)
}

fn expired(rv: u64, oldest: u64) -> Bytes {
    let e = ApiError::gone(format!("too old resource version: {rv} ({oldest})"));
    line(&json!({"type": "ERROR", "object": e.to_status()}))
}

fn stream_response(rx: mpsc::Receiver<Bytes>, table: bool) -> Response<RespBody> {
    let mut r = Response::new(body::stream(rx));
    let ct = if table {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

pub async fn watch(
    state: &Shared,
    req: &Req,
    kind: Kind,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
) -> Result<Response<RespBody>, ApiError> {
    let send_initial = req.q_bool("sendInitialEvents");
    let since = match req.q("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(_) if send_initial => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = req.q_bool("allowWatchBookmarks");
    let table = req.wants_table();
    let mut enc = Encoder {
        kind,
        table,
        include: include_object(req),
        columns_sent: false,
    };
    let filter = Filter { ns, labels, fields };
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let start = match state.store.watch(kind, since) {
        Ok(s) => s,
        Err(compacted) => {
            let _ = tx.try_send(expired(since.unwrap_or(0), compacted + 1));
            return Ok(stream_response(rx, table));
        }
    };
    tokio::spawn(async move {
        let mut last_rv = start.rv;
        for ev in &start.initial {
            last_rv = last_rv.max(ev.rv);
            let send = match ev.etype {
                EventType::Added => filter.matches(&ev.object).then_some("ADDED"),
                _ => transition(&filter, ev.etype, &ev.object, ev.prev.as_deref()),
            };
            if let Some(t) = send {
                if tx.send(enc.event(t, &ev.object)).await.is_err() {
                    return;
                }
            }
        }
        if send_initial && tx.send(enc.bookmark(last_rv, true)).await.is_err() {
            return;
        }
        let mut events = start.rx;
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                r = events.recv() => match r {
                    Ok(ev) => {
                        last_rv = last_rv.max(ev.rv);
                        if ev.kind != kind {
                            continue;
                        }
                        if let Some(t) = transition(&filter, ev.etype, &ev.object, ev.prev.as_deref()) {
                            if tx.send(enc.event(t, &ev.object)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(expired(last_rv, last_rv + 1)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick(), if bookmarks => {
                    if tx.send(enc.bookmark(last_rv, false)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            }
        }
    });
    Ok(stream_response(rx, table))
}

/// What a watcher with `filter` sees of a change.
fn transition(filter: &Filter, etype: EventType, obj: &Value, prev: Option<&Value>) -> Option<&'static str> {
    let now = filter.matches(obj);
    let before = prev.is_some_and(|p| filter.matches(p));
    match etype {
        EventType::Added => now.then_some("ADDED"),
        EventType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
        EventType::Deleted => (now || before).then_some("DELETED"),
    }
}
