//! The fields only a Distributed Map has: `ItemReader`, `ItemBatcher`,
//! `ResultWriter`, the tolerated failures, `Label` and the processor's
//! `ExecutionType`.

use super::compiler::Compiler;
use super::jsonata::Reads;
use super::{Batcher, Distributed, Number, Resourced};
use serde_json::{Map, Value};

/// Resources an `ItemReader` may name.
const READERS: &[&str] = &["arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2"];
/// Resources a `ResultWriter` may name.
const WRITERS: &[&str] = &["arn:aws:states:::s3:putObject"];
/// `MaxInputBytesPerBatch` at most (AWS's limit, 256 KiB).
pub const MAX_BATCH_BYTES: f64 = 262_144.0;
/// The longest `Label` AWS accepts.
const LABEL_MAX: usize = 40;

impl Compiler {
    /// A Distributed Map's own fields. `jsonata`: the Map is a JSONata state.
    pub(super) fn distributed(&mut self, o: &Map<String, Value>, at: &str, jsonata: bool) -> Distributed {
        let config = o.get("ItemProcessor").and_then(|p| p.get("ProcessorConfig"));
        let express = config.and_then(|c| c.get("ExecutionType")).and_then(Value::as_str) == Some("EXPRESS");
        let label = o.get("Label").and_then(|v| self.label(v, &format!("{at}/Label")));
        let reader = o
            .get("ItemReader")
            .and_then(|v| self.resourced(v, &format!("{at}/ItemReader"), jsonata, true));
        let batcher = o
            .get("ItemBatcher")
            .and_then(|v| self.batcher(v, &format!("{at}/ItemBatcher"), jsonata));
        let writer = o
            .get("ResultWriter")
            .and_then(|v| self.resourced(v, &format!("{at}/ResultWriter"), jsonata, false));
        let tolerated_count = self.number(o, "ToleratedFailureCount", at, jsonata, None, true);
        let tolerated_percentage = self.number(o, "ToleratedFailurePercentage", at, jsonata, Some(100.0), false);
        Distributed {
            express,
            label: label.map(Into::into),
            reader: reader.map(Box::new),
            batcher: batcher.map(Box::new),
            tolerated_count,
            tolerated_percentage,
            writer: writer.map(Box::new),
        }
    }

    /// Checks `ProcessorConfig.ExecutionType`.
    pub(super) fn execution_type(&mut self, v: &Value, at: &str) {
        if !matches!(v.as_str(), Some("STANDARD" | "EXPRESS")) {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "'ExecutionType' must be STANDARD or EXPRESS",
            );
        }
    }

    fn label(&mut self, v: &Value, at: &str) -> Option<String> {
        let Some(s) = v.as_str() else {
            self.d.err(at, "SCHEMA_VALIDATION_FAILED", "'Label' must be a string");
            return None;
        };
        let bad = s
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(*c));
        if s.is_empty() || s.chars().count() > LABEL_MAX || bad.is_some() {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                format!("'Label' must be 1 to {LABEL_MAX} characters without whitespace or any of < > {{ }} [ ] ? * \" # % \\ ^ | ~ ` $ & , ; : /"),
            );
            return None;
        }
        Some(s.to_string())
    }

    /// `key` or `keyPath` (JSONPath), or `key` as a number or expression
    /// (JSONata): a non-negative number at most `max`, an integer when
    /// `integer`.
    fn number(
        &mut self,
        o: &Map<String, Value>,
        key: &str,
        at: &str,
        jsonata: bool,
        max: Option<f64>,
        integer: bool,
    ) -> Option<Number> {
        let path_key = format!("{key}Path");
        let here = format!("{at}/{key}");
        if let (Some(_), Some(_)) = (o.get(key), o.get(&path_key)) {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                format!("'{key}' and '{path_key}' are mutually exclusive"),
            );
            return None;
        }
        if let Some(v) = o.get(&path_key) {
            return self.path(v, &format!("{at}/{path_key}")).map(Number::Path);
        }
        let v = o.get(key)?;
        if jsonata {
            if let Value::String(_) = v {
                return self.jt(v, &here, Reads::Input).map(|j| Number::Expr(Box::new(j)));
            }
        }
        let n = v
            .as_f64()
            .filter(|n| *n >= 0.0 && max.is_none_or(|m| *n <= m) && (!integer || (v.is_u64())));
        match n {
            Some(n) => Some(Number::Literal(n)),
            None => {
                let what = if integer {
                    "a non-negative integer"
                } else {
                    "a non-negative number"
                };
                let range = max.map(|m| format!(" at most {m}")).unwrap_or_default();
                self.d.err(
                    &here,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be {what}{range}, got {v}"),
                );
                None
            }
        }
    }

    /// `ItemReader` (`reader`) or `ResultWriter`.
    fn resourced(&mut self, v: &Value, at: &str, jsonata: bool, reader: bool) -> Option<Resourced> {
        let (field, config_key, allowed) = if reader {
            ("ItemReader", "ReaderConfig", READERS)
        } else {
            ("ResultWriter", "WriterConfig", WRITERS)
        };
        let Some(o) = v.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", format!("'{field}' must be an object"));
            return None;
        };
        let params_key = if jsonata { "Arguments" } else { "Parameters" };
        self.sub_fields(o, at, &["Resource", params_key, config_key]);
        let resource = match o.get("Resource").and_then(Value::as_str) {
            Some(r) if allowed.contains(&r) => r,
            Some(r) => {
                self.d.err(
                    &format!("{at}/Resource"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!(
                        "'{r}' is not a resource of {field}; expected one of {}",
                        allowed.join(", ")
                    ),
                );
                return None;
            }
            None => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{field}' needs a 'Resource' string"),
                );
                return None;
            }
        };
        let (parameters, arguments) = match o.get(params_key) {
            None => (None, None),
            Some(p) if !jsonata => (Some(self.template(p, &format!("{at}/{params_key}"))), None),
            Some(p) => (None, self.jt(p, &format!("{at}/{params_key}"), Reads::Input)),
        };
        if parameters.is_none() && arguments.is_none() {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                format!("'{field}' needs '{params_key}' with the S3 'Bucket'"),
            );
        }
        let config = o.get(config_key).cloned();
        match &config {
            Some(c) if reader => self.reader_config(c, &format!("{at}/{config_key}"), resource),
            Some(c) => self.writer_config(c, &format!("{at}/{config_key}")),
            None if resource.ends_with("getObject") => self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "an s3:getObject 'ItemReader' needs 'ReaderConfig' with 'InputType'",
            ),
            None => {}
        }
        Some(Resourced {
            resource: resource.into(),
            parameters,
            arguments,
            config,
        })
    }

    fn reader_config(&mut self, c: &Value, at: &str, resource: &str) {
        let Some(o) = c.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", "'ReaderConfig' must be an object");
            return;
        };
        self.sub_fields(
            o,
            at,
            &[
                "InputType",
                "CSVHeaderLocation",
                "CSVHeaders",
                "CSVDelimiter",
                "MaxItems",
                "MaxItemsPath",
                "ManifestType",
            ],
        );
        self.one_of(o, "InputType", at, &["CSV", "JSON", "JSONL", "MANIFEST", "PARQUET"]);
        self.one_of(o, "CSVHeaderLocation", at, &["FIRST_ROW", "GIVEN"]);
        self.one_of(o, "CSVDelimiter", at, &["COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"]);
        self.one_of(o, "ManifestType", at, &["ATHENA_DATA", "CSV", "S3_INVENTORY"]);
        if resource.ends_with("getObject") && !o.contains_key("InputType") {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "an s3:getObject 'ItemReader' needs 'InputType'",
            );
        }
        let given = o.get("CSVHeaderLocation").and_then(Value::as_str) == Some("GIVEN");
        match o.get("CSVHeaders") {
            Some(Value::Array(h)) if given && !h.is_empty() && h.iter().all(Value::is_string) => {}
            Some(_) if !given => self.d.err(
                &format!("{at}/CSVHeaders"),
                "SCHEMA_VALIDATION_FAILED",
                "'CSVHeaders' is only allowed with 'CSVHeaderLocation': 'GIVEN'",
            ),
            None if !given => {}
            _ => self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "'CSVHeaderLocation': 'GIVEN' needs 'CSVHeaders', a non-empty array of strings",
            ),
        }
        self.number(o, "MaxItems", at, false, Some(100_000_000.0), true);
    }

    fn writer_config(&mut self, c: &Value, at: &str) {
        let Some(o) = c.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", "'WriterConfig' must be an object");
            return;
        };
        self.sub_fields(o, at, &["OutputType", "Transformation"]);
        self.one_of(o, "OutputType", at, &["JSON", "JSONL"]);
        self.one_of(o, "Transformation", at, &["NONE", "COMPACT", "FLATTEN"]);
        // AWS accepts the others; Aslan does not write them yet, and says
        // so now rather than after every child has run.
        for (key, only) in [("OutputType", "JSON"), ("Transformation", "NONE")] {
            if let Some(v) = o.get(key).and_then(Value::as_str).filter(|v| *v != only) {
                self.d.err(
                    &format!("{at}/{key}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' {v} is not supported by Aslan yet (only {only})"),
                );
            }
        }
    }

    /// Checks that `o[key]`, if present, is one of `allowed`.
    fn one_of(&mut self, o: &Map<String, Value>, key: &str, at: &str, allowed: &[&str]) {
        if let Some(v) = o.get(key) {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                self.d.err(
                    &format!("{at}/{key}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be one of {}, got {v}", allowed.join(", ")),
                );
            }
        }
    }

    fn batcher(&mut self, v: &Value, at: &str, jsonata: bool) -> Option<Batcher> {
        let Some(o) = v.as_object() else {
            self.d
                .err(at, "SCHEMA_VALIDATION_FAILED", "'ItemBatcher' must be an object");
            return None;
        };
        let fields: &[&str] = if jsonata {
            &["MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput"]
        } else {
            &[
                "MaxItemsPerBatch",
                "MaxItemsPerBatchPath",
                "MaxInputBytesPerBatch",
                "MaxInputBytesPerBatchPath",
                "BatchInput",
            ]
        };
        self.sub_fields(o, at, fields);
        let max_items = self.number(o, "MaxItemsPerBatch", at, jsonata, Some(u32::MAX as f64), true);
        let max_bytes = self.number(o, "MaxInputBytesPerBatch", at, jsonata, Some(MAX_BATCH_BYTES), true);
        for (key, n) in [("MaxItemsPerBatch", &max_items), ("MaxInputBytesPerBatch", &max_bytes)] {
            if let Some(Number::Literal(0.0)) = n {
                self.d.err(
                    &format!("{at}/{key}"),
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be a positive integer"),
                );
            }
        }
        let present = |k: &str| o.contains_key(k) || o.contains_key(&format!("{k}Path"));
        if !present("MaxItemsPerBatch") && !present("MaxInputBytesPerBatch") {
            self.d.err(
                at,
                "SCHEMA_VALIDATION_FAILED",
                "'ItemBatcher' needs 'MaxItemsPerBatch' or 'MaxInputBytesPerBatch'",
            );
        }
        let (batch_input, jsonata_batch_input) = match o.get("BatchInput") {
            None => (None, None),
            Some(b) if !(b.is_object() || jsonata && b.is_string()) => {
                self.d.err(
                    &format!("{at}/BatchInput"),
                    "SCHEMA_VALIDATION_FAILED",
                    "'BatchInput' must be an object",
                );
                (None, None)
            }
            Some(b) if jsonata => (None, self.jt(b, &format!("{at}/BatchInput"), Reads::Input)),
            Some(b) => (Some(self.template(b, &format!("{at}/BatchInput"))), None),
        };
        Some(Batcher {
            max_items,
            max_bytes,
            batch_input,
            jsonata_batch_input,
        })
    }
}
