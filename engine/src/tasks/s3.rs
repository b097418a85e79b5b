//! Distributed Map item readers over S3 (`ItemReader`), through aws-sdk-s3.
//!
//! The core asks for a Distributed Map's items as a task of the resource
//! `arn:aslan:states:::s3-reader:ACTION` (ACTION `listObjectsV2` or
//! `getObject`), with parameters `{"Parameters": ..., "ReaderConfig": ...}`
//! as the state evaluated them; the result is the array of items.
//!
//! - `listObjectsV2`: every object under `Bucket`/`Prefix`, page by page,
//!   each as AWS gives it to a child: `Key`, `Etag`, `LastModified`
//!   (seconds since the epoch), `Size`, `StorageClass`.
//! - `getObject` with `ReaderConfig.InputType`:
//!   - `JSON`: the object is a JSON array, each element an item;
//!   - `JSONL`: each non-empty line is an item;
//!   - `CSV`: each row is an object of strings keyed by the header row
//!     (`CSVHeaderLocation` `FIRST_ROW`) or by `CSVHeaders` (`GIVEN`),
//!     split by `CSVDelimiter` (default `COMMA`), with RFC 4180 quoting.
//!
//!   - `MANIFEST`: an S3 Inventory report's `manifest.json`; its
//!     gzip-compressed CSV files give one item per listed object, keyed by
//!     the manifest's `fileSchema`.
//!
//!   JSON Lines and CSV are parsed as the body streams in, so the object is
//!   never held whole; a JSON array, a manifest and an inventory file are
//!   read whole, up to [`MAX_WHOLE_BYTES`].
//! - `ReaderConfig.MaxItems` stops reading once that many items are read.
//! - Anything that goes wrong fails the state with `States.ItemReaderFailed`
//!   and the reason (an S3 error's code and message).
//!
//! A `ResultWriter` is a task of `arn:aslan:states:::s3-writer:putObject`
//! whose parameters carry the Map Run's ARN and its children's entries; see
//! [`write`].
//!
//! The client comes from the standard AWS configuration; the endpoint can
//! be overridden with `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`), and then
//! requests use path-style addressing, as S3 stand-ins such as moto expect.

use super::{Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use crate::asl::error::ITEM_READER_FAILED;
use crate::asl::StateError;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The most items one reader gives (AWS's `MaxItems` bound).
pub const MAX_ITEMS: u64 = 100_000_000;

/// The most bytes held at once for an object read whole (a JSON array, an
/// inventory manifest, one decompressed inventory file): beyond it the
/// reader fails rather than exhaust memory.
pub const MAX_WHOLE_BYTES: usize = 512 * 1024 * 1024;

/// Reads a body whole, within [`MAX_WHOLE_BYTES`]; `what` names it in
/// errors ("the object").
async fn read_whole(mut body: aws_sdk_s3::primitives::ByteStream, what: &str) -> Result<Vec<u8>, StateError> {
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| s3_error(&format!("Reading {what}"), e))?;
        if buf.len() + chunk.len() > MAX_WHOLE_BYTES {
            let mut what = what.to_string();
            if let Some(c) = what.get_mut(..1) {
                c.make_ascii_uppercase();
            }
            return Err(failed(format!(
                "{what} is larger than the {MAX_WHOLE_BYTES} bytes Aslan reads whole; use JSON Lines or CSV, which stream"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Serves `arn:aslan:states:::s3-reader:listObjectsV2` and `...:getObject`.
#[derive(Default)]
pub struct S3Reader {
    client: Arc<OnceCell<aws_sdk_s3::Client>>,
}

impl S3Reader {
    /// The reader; the S3 client is made on first use.
    pub fn new() -> S3Reader {
        S3Reader::default()
    }
}

fn failed(cause: impl Into<String>) -> StateError {
    StateError::new(ITEM_READER_FAILED, cause)
}

async fn client(cell: &OnceCell<aws_sdk_s3::Client>) -> &aws_sdk_s3::Client {
    cell.get_or_init(|| async {
        let sdk = crate::tasks::aws::sdk_config().await;
        let mut b = aws_sdk_s3::config::Builder::from(sdk);
        if std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some() {
            b = b.force_path_style(true);
        }
        if sdk.region().is_none() {
            b = b.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        aws_sdk_s3::Client::from_conf(b.build())
    })
    .await
}

impl Integration for S3Reader {
    fn patterns(&self, r: &Resource) -> Option<&'static [Pattern]> {
        let ok = match r.service() {
            "s3-reader" => matches!(r.action(), "listObjectsV2" | "getObject"),
            "s3-writer" => r.action() == "putObject",
            _ => false,
        };
        ok.then_some(&[Pattern::RequestResponse][..])
    }

    fn start(&self, task: Task) -> TaskFuture {
        let cell = self.client.clone();
        Box::pin(async move {
            let p = &task.invocation.parameters;
            let params = p.get("Parameters").cloned().unwrap_or_default();
            let config = p.get("ReaderConfig").cloned().unwrap_or_default();
            let c = client(&cell).await;
            let r = match task.resource.action() {
                "putObject" => return write(c, p).await.map_or_else(Outcome::Failed, Outcome::Succeeded),
                "listObjectsV2" => list(c, &params, &config).await,
                _ => get(c, &params, &config).await,
            };
            match r {
                Ok(items) => Outcome::Succeeded(Value::Array(items)),
                Err(e) => Outcome::Failed(e),
            }
        })
    }
}

fn text<'a>(params: &'a Value, key: &str) -> Result<Option<&'a str>, StateError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(failed(format!("the ItemReader's '{key}' must be a string, got {v}"))),
    }
}

fn max_items(config: &Value) -> usize {
    match config.get("MaxItems").and_then(Value::as_u64) {
        Some(n) if n > 0 => n.min(MAX_ITEMS) as usize,
        _ => MAX_ITEMS as usize,
    }
}

fn s3_error<E: std::error::Error>(what: &str, e: E) -> StateError {
    failed(format!("{what} failed: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
}

async fn list(c: &aws_sdk_s3::Client, params: &Value, config: &Value) -> Result<Vec<Value>, StateError> {
    let bucket = text(params, "Bucket")?.ok_or_else(|| failed("the ItemReader needs 'Bucket'"))?;
    let max = max_items(config);
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .list_objects_v2()
            .bucket(bucket)
            .set_prefix(text(params, "Prefix")?.map(String::from))
            .set_delimiter(text(params, "Delimiter")?.map(String::from))
            .set_start_after(text(params, "StartAfter")?.map(String::from))
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| s3_error("S3 ListObjectsV2", e))?;
        for o in out.contents() {
            if items.len() >= max {
                return Ok(items);
            }
            let mut item = Map::new();
            item.insert("Etag".into(), json!(o.e_tag()));
            item.insert("Key".into(), json!(o.key()));
            item.insert("LastModified".into(), json!(o.last_modified().map(|t| t.secs())));
            item.insert("Size".into(), json!(o.size()));
            item.insert("StorageClass".into(), json!(o.storage_class().map(|s| s.as_str())));
            items.push(Value::Object(item));
        }
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) && items.len() < max => token = Some(t.to_string()),
            _ => return Ok(items),
        }
    }
}

async fn get(c: &aws_sdk_s3::Client, params: &Value, config: &Value) -> Result<Vec<Value>, StateError> {
    let bucket = text(params, "Bucket")?.ok_or_else(|| failed("the ItemReader needs 'Bucket'"))?;
    let key = text(params, "Key")?.ok_or_else(|| failed("an s3:getObject ItemReader needs 'Key'"))?;
    let input_type = text(config, "InputType")?.unwrap_or("JSON");
    let max = max_items(config);
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(text(params, "VersionId")?.map(String::from))
        .send()
        .await
        .map_err(|e| s3_error("S3 GetObject", e))?;
    let mut body = out.body;
    match input_type {
        "JSON" => {
            let bytes = read_whole(body, "the object").await?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Array(mut a)) => {
                    a.truncate(max);
                    Ok(a)
                }
                Ok(_) => Err(failed(format!("s3://{bucket}/{key} is not a JSON array"))),
                Err(e) => Err(failed(format!("s3://{bucket}/{key} is not JSON: {e}"))),
            }
        }
        "JSONL" => {
            let mut lines = Lines::default();
            let mut items = Vec::new();
            let mut n = 0usize;
            let mut take = |line: &[u8], items: &mut Vec<Value>| -> Result<(), StateError> {
                n += 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                let v = serde_json::from_slice(line)
                    .map_err(|e| failed(format!("line {n} of s3://{bucket}/{key} is not JSON: {e}")))?;
                items.push(v);
                Ok(())
            };
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| s3_error("Reading the object", e))?;
                for line in lines.feed(&chunk) {
                    take(&line, &mut items)?;
                    if items.len() >= max {
                        return Ok(items);
                    }
                }
            }
            if let Some(last) = lines.finish() {
                take(&last, &mut items)?;
            }
            items.truncate(max);
            Ok(items)
        }
        "CSV" => {
            let delimiter = match text(config, "CSVDelimiter")?.unwrap_or("COMMA") {
                "PIPE" => b'|',
                "SEMICOLON" => b';',
                "SPACE" => b' ',
                "TAB" => b'\t',
                _ => b',',
            };
            let mut headers: Option<Vec<String>> = match text(config, "CSVHeaderLocation")? {
                Some("GIVEN") => Some(
                    config
                        .get("CSVHeaders")
                        .and_then(Value::as_array)
                        .map(|h| h.iter().map(|s| s.as_str().unwrap_or_default().to_string()).collect())
                        .ok_or_else(|| failed("CSVHeaderLocation GIVEN needs CSVHeaders"))?,
                ),
                _ => None,
            };
            let mut csv = Csv::new(delimiter);
            let mut items = Vec::new();
            let mut row_to_item = |row: Vec<String>, items: &mut Vec<Value>| match &headers {
                None => headers = Some(row),
                Some(h) => {
                    let o: Map<String, Value> = h
                        .iter()
                        .enumerate()
                        .map(|(i, k)| (k.clone(), Value::String(row.get(i).cloned().unwrap_or_default())))
                        .collect();
                    items.push(Value::Object(o));
                }
            };
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| s3_error("Reading the object", e))?;
                for row in csv.feed(&chunk) {
                    row_to_item(row, &mut items);
                    if items.len() >= max {
                        return Ok(items);
                    }
                }
            }
            if let Some(row) = csv.finish() {
                row_to_item(row, &mut items);
            }
            items.truncate(max);
            Ok(items)
        }
        "MANIFEST" => {
            let bytes = read_whole(body, "the manifest").await?;
            inventory(c, bucket, key, &bytes, max).await
        }
        other => Err(failed(format!(
            "ReaderConfig InputType {other} is not supported by Aslan yet (JSON, JSONL, CSV and MANIFEST are)"
        ))),
    }
}

/// The objects an S3 Inventory report lists: `manifest` is its
/// `manifest.json`; each of its gzip-compressed CSV `files` (in the
/// destination bucket) gives one item per row, an object of strings keyed
/// by the manifest's `fileSchema` (`Bucket`, `Key`, `Size`, ...).
async fn inventory(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    manifest: &[u8],
    max: usize,
) -> Result<Vec<Value>, StateError> {
    let m: Value = serde_json::from_slice(manifest)
        .map_err(|e| failed(format!("s3://{bucket}/{key} is not an S3 Inventory manifest: {e}")))?;
    if m.get("fileFormat").and_then(Value::as_str) != Some("CSV") {
        return Err(failed(format!(
            "s3://{bucket}/{key}: only CSV inventory reports are supported (fileFormat {})",
            m.get("fileFormat").unwrap_or(&Value::Null)
        )));
    }
    let schema: Vec<String> = m
        .get("fileSchema")
        .and_then(Value::as_str)
        .ok_or_else(|| failed(format!("s3://{bucket}/{key} has no fileSchema")))?
        .split(',')
        .map(|f| f.trim().to_string())
        .collect();
    // The files are in the destination bucket (an ARN in the manifest).
    let dest = m
        .get("destinationBucket")
        .and_then(Value::as_str)
        .map(|b| b.rsplit(":::").next().unwrap_or(b))
        .unwrap_or(bucket)
        .to_string();
    let files: Vec<String> = m
        .get("files")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(|f| f.get("key")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut items = Vec::new();
    for file in files {
        let out = c
            .get_object()
            .bucket(&dest)
            .key(&file)
            .send()
            .await
            .map_err(|e| s3_error("S3 GetObject of an inventory file", e))?;
        let gz = read_whole(out.body, "an inventory file").await?;
        let mut text = Vec::new();
        let gunzip = flate2::read::MultiGzDecoder::new(&gz[..]);
        std::io::Read::read_to_end(&mut std::io::Read::take(gunzip, MAX_WHOLE_BYTES as u64 + 1), &mut text)
            .map_err(|e| failed(format!("s3://{dest}/{file} is not gzip: {e}")))?;
        if text.len() > MAX_WHOLE_BYTES {
            return Err(failed(format!(
                "s3://{dest}/{file} decompresses to more than {MAX_WHOLE_BYTES} bytes"
            )));
        }
        let mut csv = Csv::new(b',');
        let mut rows = csv.feed(&text);
        rows.extend(csv.finish());
        for row in rows {
            if items.len() >= max {
                return Ok(items);
            }
            let o: Map<String, Value> = schema
                .iter()
                .enumerate()
                .map(|(i, k)| (k.clone(), Value::String(row.get(i).cloned().unwrap_or_default())))
                .collect();
            items.push(Value::Object(o));
        }
    }
    Ok(items)
}

use crate::asl::error::RESULT_WRITER_FAILED;

/// Writes a Map Run's children as AWS's `ResultWriter` does:
/// `PREFIX/MAP_RUN_ID/SUCCEEDED_0.json` and `FAILED_0.json` (JSON arrays of
/// the children, each with its ARN, name, status, dates, input and output
/// or error), then `manifest.json` listing them; returns
/// `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}` (the manifest).
async fn write(c: &aws_sdk_s3::Client, p: &Value) -> Result<Value, StateError> {
    let writer_failed = |cause: String| StateError::new(RESULT_WRITER_FAILED, cause);
    let params = p.get("Parameters").cloned().unwrap_or_default();
    let bucket = text(&params, "Bucket")
        .map_err(|e| writer_failed(e.cause))?
        .ok_or_else(|| writer_failed("the ResultWriter needs 'Bucket'".into()))?;
    let prefix = text(&params, "Prefix")
        .map_err(|e| writer_failed(e.cause))?
        .unwrap_or("");
    let config = p.get("WriterConfig").cloned().unwrap_or_default();
    for (key, default) in [("OutputType", "JSON"), ("Transformation", "NONE")] {
        let v = text(&config, key)
            .map_err(|e| writer_failed(e.cause))?
            .unwrap_or(default);
        if v != default {
            return Err(writer_failed(format!(
                "WriterConfig {key} {v} is not supported by Aslan yet (only {default})"
            )));
        }
    }
    let arn = p.get("MapRunArn").and_then(Value::as_str).unwrap_or_default();
    let id = arn.rsplit(':').next().unwrap_or_default();
    let base = match prefix.trim_end_matches('/') {
        "" => id.to_string(),
        pre => format!("{pre}/{id}"),
    };
    let results = p
        .get("Results")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (succeeded, failed): (Vec<&Value>, Vec<&Value>) = results
        .iter()
        .partition(|r| r.get("Status").and_then(Value::as_str) == Some("SUCCEEDED"));
    let mut files = Map::new();
    for (status, list) in [("FAILED", failed), ("PENDING", Vec::new()), ("SUCCEEDED", succeeded)] {
        let mut entries = Vec::new();
        if !list.is_empty() {
            let key = format!("{base}/{status}_0.json");
            let body = serde_json::to_vec(&list).unwrap_or_default();
            let size = body.len();
            put(c, bucket, &key, body).await.map_err(|e| writer_failed(e.cause))?;
            entries.push(json!({"Key": key, "Size": size}));
        }
        files.insert(status.into(), Value::Array(entries));
    }
    let manifest = json!({"DestinationBucket": bucket, "MapRunArn": arn, "ResultFiles": files});
    let key = format!("{base}/manifest.json");
    put(c, bucket, &key, manifest.to_string().into_bytes())
        .await
        .map_err(|e| writer_failed(e.cause))?;
    Ok(json!({"MapRunArn": arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}}))
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StateError> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| s3_error("S3 PutObject", e))?;
    Ok(())
}

/// Splits a byte stream into lines (`\n`, with a `\r` before it dropped).
#[derive(Default)]
struct Lines {
    carry: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in chunk {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.carry);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                out.push(line);
            } else {
                self.carry.push(b);
            }
        }
        out
    }

    fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.carry.is_empty()).then(|| std::mem::take(&mut self.carry))
    }
}

/// An incremental RFC 4180 reader: quoted fields may hold the delimiter,
/// newlines and doubled quotes. Empty lines are skipped.
struct Csv {
    delimiter: u8,
    field: Vec<u8>,
    row: Vec<String>,
    quoted: bool,
    /// A quote closed a quoted field: another quote right after it is a
    /// literal quote.
    after_quote: bool,
}

impl Csv {
    fn new(delimiter: u8) -> Csv {
        Csv {
            delimiter,
            field: Vec::new(),
            row: Vec::new(),
            quoted: false,
            after_quote: false,
        }
    }

    fn end_field(&mut self) {
        let f = std::mem::take(&mut self.field);
        self.row.push(String::from_utf8_lossy(&f).into_owned());
        self.after_quote = false;
    }

    fn end_row(&mut self, out: &mut Vec<Vec<String>>) {
        self.end_field();
        let row = std::mem::take(&mut self.row);
        if !(row.len() == 1 && row[0].is_empty()) {
            out.push(row);
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.quoted {
                if b == b'"' {
                    self.quoted = false;
                    self.after_quote = true;
                } else {
                    self.field.push(b);
                }
                continue;
            }
            match b {
                b'"' if self.after_quote => {
                    self.field.push(b'"');
                    self.quoted = true;
                    self.after_quote = false;
                }
                b'"' if self.field.is_empty() => self.quoted = true,
                b'\n' => self.end_row(&mut out),
                b'\r' => {}
                b if b == self.delimiter => self.end_field(),
                b => {
                    self.after_quote = false;
                    self.field.push(b);
                }
            }
        }
        out
    }

    fn finish(&mut self) -> Option<Vec<String>> {
        let mut out = Vec::new();
        if !self.field.is_empty() || !self.row.is_empty() {
            self.end_row(&mut out);
        }
        out.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, delimiter: u8, chunk: usize) -> Vec<Vec<String>> {
        let mut c = Csv::new(delimiter);
        let mut out = Vec::new();
        for part in text.as_bytes().chunks(chunk) {
            out.extend(c.feed(part));
        }
        out.extend(c.finish());
        out
    }

    #[test]
    fn csv_quotes_delimiters_and_newlines_in_any_chunking() {
        let text = "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,\"two\nlines\",\n3,,last";
        let want: Vec<Vec<String>> = vec![
            vec!["a".into(), "b".into(), "c".into()],
            vec!["1".into(), "x, y".into(), "say \"hi\"".into()],
            vec!["2".into(), "two\nlines".into(), "".into()],
            vec!["3".into(), "".into(), "last".into()],
        ];
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(rows(text, b',', chunk), want, "chunks of {chunk}");
        }
        assert_eq!(rows("a|b\n1|2\n", b'|', 2), vec![vec!["a", "b"], vec!["1", "2"]]);
    }

    #[test]
    fn lines_split_across_chunks() {
        let mut l = Lines::default();
        let mut out = l.feed(b"{\"a\":1}\r\n{\"a\"");
        out.extend(l.feed(b":2}\n\n{\"a\":3}"));
        out.extend(l.finish());
        let out: Vec<String> = out.into_iter().map(|b| String::from_utf8(b).unwrap()).collect();
        assert_eq!(out, ["{\"a\":1}", "{\"a\":2}", "", "{\"a\":3}"]);
    }
}
