//! Map Runs in the store: the record DescribeMapRun shows, the children's
//! inputs and their outputs (keys `r`, `i`, `o`, `p`; see the table in the
//! parent module).

use super::{Store, StoreError};
use crate::asl::maprun::MapRun;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Map Run as the executor persists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MapRunRecord {
    /// The Map Run's ARN.
    pub arn: String,
    /// The execution that started it.
    pub execution_arn: String,
    /// That execution's id.
    pub execution_id: u64,
    /// The core's token for it in that execution.
    pub token: u64,
    /// `Label` (or the generated one).
    pub label: String,
    /// The Distributed Map state's name.
    pub state_name: String,
    /// The state list the children run.
    pub processor: u32,
    /// `ExecutionType` EXPRESS.
    pub express: bool,
    /// The parent's state machine name and definition revision (the
    /// children run the same definition).
    pub sm_name: String,
    /// The definition revision.
    pub revision: u64,
    /// The parent's state machine ARN.
    pub sm_arn: String,
    /// The parent's role.
    pub role_arn: String,
    /// The parent's mock test case, which the children use too.
    pub test_case: Option<String>,
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// End, ms since the epoch.
    pub stop_ms: Option<i64>,
    /// Progress: status, counts, limits.
    pub run: MapRun,
    /// The Map has a `ResultWriter`: children are kept as its entries.
    #[serde(default)]
    pub detailed: bool,
}

/// Key helpers for Map Runs.
pub mod key {
    fn with(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut k = vec![prefix];
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }
    /// `r` ARN.
    pub fn map_run(arn: &str) -> Vec<u8> {
        with(b'r', &[arn.as_bytes()])
    }
    /// `i` ARN.
    pub fn inputs(arn: &str) -> Vec<u8> {
        with(b'i', &[arn.as_bytes()])
    }
    /// `o` ARN `\0`.
    pub fn outputs_prefix(arn: &str) -> Vec<u8> {
        with(b'o', &[arn.as_bytes(), b"\0"])
    }
    /// `o` ARN `\0` index.
    pub fn output(arn: &str, index: u32) -> Vec<u8> {
        with(b'o', &[arn.as_bytes(), b"\0", &index.to_be_bytes()])
    }
    /// `p` execution ARN `\0`.
    pub fn of_execution_prefix(execution_arn: &str) -> Vec<u8> {
        with(b'p', &[execution_arn.as_bytes(), b"\0"])
    }
    /// `p` execution ARN `\0` Map Run ARN.
    pub fn of_execution(execution_arn: &str, arn: &str) -> Vec<u8> {
        with(b'p', &[execution_arn.as_bytes(), b"\0", arn.as_bytes()])
    }
}

impl Store {
    /// A Map Run by ARN.
    pub fn map_run(&self, arn: &str) -> Result<Option<MapRunRecord>, StoreError> {
        self.get_json(&key::map_run(arn))
    }

    /// Every Map Run record.
    pub fn map_runs(&self) -> Result<Vec<MapRunRecord>, StoreError> {
        let mut out = Vec::new();
        for r in self.db.scan_prefix(b"r") {
            out.push(serde_json::from_slice(&r?.1)?);
        }
        Ok(out)
    }

    /// The ARNs of an execution's Map Runs.
    pub fn map_runs_of(&self, execution_arn: &str) -> Result<Vec<String>, StoreError> {
        let prefix = key::of_execution_prefix(execution_arn);
        let mut out = Vec::new();
        for r in self.db.scan_prefix(&prefix) {
            let (k, _) = r?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    /// A Map Run's children's inputs.
    pub fn map_run_inputs(&self, arn: &str) -> Result<Vec<Value>, StoreError> {
        Ok(self.get_json(&key::inputs(arn))?.unwrap_or_default())
    }

    /// A Map Run's ended children's outputs: (index, output).
    pub fn map_run_outputs(&self, arn: &str) -> Result<Vec<(u32, Value)>, StoreError> {
        let prefix = key::outputs_prefix(arn);
        let mut out = Vec::new();
        for r in self.db.scan_prefix(&prefix) {
            let (k, v) = r?;
            let i = k[prefix.len()..].try_into().map(u32::from_be_bytes).unwrap_or(0);
            out.push((i, serde_json::from_slice(&v)?));
        }
        Ok(out)
    }
}
