//! Response bodies: whole or streamed from a channel (watches, followed logs).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use serde_json::Value;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The response body type.
pub type RespBody = BoxBody<Bytes, Infallible>;

/// A body fed by a channel; it ends when the sender is dropped.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

pub fn full(b: impl Into<Bytes>) -> RespBody {
    Full::new(b.into()).boxed()
}

pub fn stream(rx: mpsc::Receiver<Bytes>) -> RespBody {
    ChannelBody { rx }.boxed()
}

/// A JSON response (compact, newline-terminated, as the API server writes).
pub fn json(code: u16, v: &Value) -> Response<RespBody> {
    json_with_type(code, v, "application/json")
}

pub fn json_with_type(code: u16, v: &Value, content_type: &str) -> Response<RespBody> {
    let mut s = serde_json::to_vec(v).unwrap_or_default();
    s.push(b'\n');
    let mut r = Response::new(full(s));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(h) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, h);
    }
    r
}

pub fn text(code: u16, s: impl Into<Bytes>) -> Response<RespBody> {
    let mut r = Response::new(full(s.into()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Adds a `Warning: 299 - "..."` header.
pub fn add_warning(r: &mut Response<RespBody>, msg: &str) {
    let escaped = msg.replace('\\', "\\\\").replace('"', "\\\"");
    if let Ok(h) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
        r.headers_mut().append(http::header::WARNING, h);
    }
}
