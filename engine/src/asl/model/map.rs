//! The fields of a Map state; `distributed.rs` has a Distributed Map's own.

use super::compiler::{Compiler, DISTRIBUTED_ONLY};
use super::jsonata::Reads;
use super::{Kind, ListId, MapSpec, PathSpec, Seconds};
use crate::asl::template::Template;
use serde_json::{Map, Value};

impl Compiler {
    pub(super) fn map(&mut self, o: &Map<String, Value>, at: &str) -> Kind {
        // Read before the item processor's states change it.
        let jsonata = self.jsonata;
        let distributed = o
            .get("ItemProcessor")
            .and_then(|p| p.pointer("/ProcessorConfig/Mode"))
            .and_then(Value::as_str)
            == Some("DISTRIBUTED");
        let distributed = if distributed {
            Some(Box::new(self.distributed(o, at, jsonata)))
        } else {
            for k in DISTRIBUTED_ONLY {
                if o.contains_key(*k) {
                    self.d.err(
                        &format!("{at}/{k}"),
                        "SCHEMA_VALIDATION_FAILED",
                        format!("field '{k}' is only allowed in a Distributed Map (ItemProcessor.ProcessorConfig.Mode DISTRIBUTED)"),
                    );
                }
            }
            None
        };
        let (items, jsonata_selector, jsonata_concurrency) = if jsonata {
            let items = o
                .get("Items")
                .and_then(|v| self.jt(v, &format!("{at}/Items"), Reads::Input));
            if let Some(lit) = items.as_ref().and_then(|j| j.literal()) {
                if !lit.is_array() {
                    self.d.err(
                        &format!("{at}/Items"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'Items' must be an array or a JSONata expression",
                    );
                }
            }
            let sel = o
                .get("ItemSelector")
                .and_then(|v| self.jt(v, &format!("{at}/ItemSelector"), Reads::Input));
            (items, sel, self.jsonata_seconds(o, "MaxConcurrency", at))
        } else {
            (None, None, None)
        };
        let processor = self.processor(o, at);
        let items_path = self.path_spec(o, "ItemsPath", at);
        if let PathSpec::Path(p) = &items_path {
            if !p.is_definite() {
                self.d.err(
                    &format!("{at}/ItemsPath"),
                    "INVALID_JSON_PATH",
                    format!("'{p}' is not a Reference Path: ItemsPath must select a single node (no wildcards, filters or slices)"),
                );
            }
        }
        let (item_selector, max_concurrency) = if jsonata {
            (None, jsonata_concurrency.unwrap_or(Seconds::Literal(0)))
        } else {
            (self.item_selector(o, at), self.max_concurrency(o, at))
        };
        Kind::Map(Box::new(MapSpec {
            processor,
            items_path,
            item_selector,
            max_concurrency,
            items,
            jsonata_selector,
            distributed,
        }))
    }

    /// `ItemProcessor` or the legacy `Iterator`: compiles its state list.
    fn processor(&mut self, o: &Map<String, Value>, at: &str) -> ListId {
        match (o.get("ItemProcessor"), o.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'ItemProcessor' and 'Iterator' are mutually exclusive",
                );
                0
            }
            (Some(p), None) | (None, Some(p)) => {
                let key = if o.contains_key("ItemProcessor") {
                    "ItemProcessor"
                } else {
                    "Iterator"
                };
                let here = format!("{at}/{key}");
                match p.as_object() {
                    Some(po) => {
                        self.sub_fields(po, &here, &["StartAt", "States", "Comment", "ProcessorConfig"]);
                        if let Some(pc) = po.get("ProcessorConfig") {
                            self.processor_config(pc, &format!("{here}/ProcessorConfig"));
                        }
                        self.compile_list(po, &here)
                    }
                    None => {
                        self.d.err(
                            &here,
                            "SCHEMA_VALIDATION_FAILED",
                            format!("'{key}' must be an object with StartAt and States"),
                        );
                        0
                    }
                }
            }
            (None, None) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "a Map state needs 'ItemProcessor' (or the legacy 'Iterator')",
                );
                0
            }
        }
    }

    fn processor_config(&mut self, pc: &Value, at: &str) {
        match pc.as_object() {
            Some(pco) => {
                self.sub_fields(pco, at, &["Mode", "ExecutionType"]);
                if let Some(t) = pco.get("ExecutionType") {
                    self.execution_type(t, &format!("{at}/ExecutionType"));
                }
                if let Some(m) = pco.get("Mode") {
                    if !matches!(m.as_str(), Some("INLINE" | "DISTRIBUTED")) {
                        self.d.err(
                            &format!("{at}/Mode"),
                            "SCHEMA_VALIDATION_FAILED",
                            "'Mode' must be INLINE or DISTRIBUTED",
                        );
                    }
                }
            }
            None => self
                .d
                .err(at, "SCHEMA_VALIDATION_FAILED", "'ProcessorConfig' must be an object"),
        }
    }

    /// `ItemSelector` or the legacy `Parameters`.
    fn item_selector(&mut self, o: &Map<String, Value>, at: &str) -> Option<Template> {
        match (o.get("ItemSelector"), o.get("Parameters")) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'ItemSelector' and the legacy 'Parameters' are mutually exclusive",
                );
                None
            }
            (Some(t), None) => Some(self.template(t, &format!("{at}/ItemSelector"))),
            (None, Some(t)) => Some(self.template(t, &format!("{at}/Parameters"))),
            (None, None) => None,
        }
    }

    /// `MaxConcurrency` or `MaxConcurrencyPath`; 0 (unlimited) by default.
    fn max_concurrency(&mut self, o: &Map<String, Value>, at: &str) -> Seconds {
        match (o.get("MaxConcurrency"), o.get("MaxConcurrencyPath")) {
            (Some(_), Some(_)) => {
                self.d.err(
                    at,
                    "SCHEMA_VALIDATION_FAILED",
                    "'MaxConcurrency' and 'MaxConcurrencyPath' are mutually exclusive",
                );
                Seconds::Literal(0)
            }
            (Some(v), None) => match v.as_u64() {
                Some(n) => Seconds::Literal(n),
                None => {
                    self.d.err(
                        &format!("{at}/MaxConcurrency"),
                        "SCHEMA_VALIDATION_FAILED",
                        "'MaxConcurrency' must be a non-negative integer",
                    );
                    Seconds::Literal(0)
                }
            },
            (None, Some(v)) => self
                .path(v, &format!("{at}/MaxConcurrencyPath"))
                .map(Seconds::Path)
                .unwrap_or(Seconds::Literal(0)),
            (None, None) => Seconds::Literal(0),
        }
    }
}
