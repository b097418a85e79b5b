//! A Distributed Map's Map Run, as pure bookkeeping.
//!
//! The core does not iterate a Distributed Map itself: entering one
//! evaluates its fields and emits [`Command::StartMapRun`](super::Command)
//! with a [`MapRunRequest`]; whoever runs executions (the durable executor,
//! or `exec::run` in memory) starts each child as an execution of the Map's
//! `ItemProcessor` and reports the end with
//! [`Event::MapRunEnded`](super::Event). [`MapRun`] is the part both share:
//! which children to start next under `MaxConcurrency`, the counts, and when
//! the tolerated failures are exceeded. It does no I/O and serializes into
//! the executor's Map Run record.

use super::error::StateError;
use super::model::ListId;
use super::step::ExecutionInfo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::Arc;

/// The error a Map Run fails with when more children failed than tolerated.
pub use super::error::EXCEED_TOLERATED_FAILURE as EXCEED_TOLERATED_FAILURE_THRESHOLD;

/// Children running at once when `MaxConcurrency` is 0, and at most
/// (AWS's bound).
pub const DEFAULT_CONCURRENCY: u64 = 10_000;

/// What the core asks for when it enters a Distributed Map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRunRequest {
    /// Identifies the Map Run in [`Event::MapRunEnded`](super::Event).
    pub token: u64,
    /// `arn:aws:states:REGION:ACCOUNT:mapRun:MACHINE/LABEL:UUID`.
    pub map_run_arn: String,
    /// The `Label`, or a UUID when the state has none.
    pub label: String,
    /// The Map state's name.
    pub state_name: Arc<str>,
    /// The state list the children run (the Map's `ItemProcessor`).
    pub processor: ListId,
    /// `ExecutionType` EXPRESS.
    pub express: bool,
    /// Each child's input: an item after `ItemSelector`, or a batch
    /// (`{"Items": [...], "BatchInput": ...}`).
    pub inputs: Vec<Value>,
    /// Items in each child (1 without `ItemBatcher`); empty means 1 each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_sizes: Vec<u32>,
    /// `MaxConcurrency`; 0 means [`DEFAULT_CONCURRENCY`].
    pub max_concurrency: u64,
    /// `ToleratedFailureCount` (default 0).
    pub tolerated_count: Option<u64>,
    /// `ToleratedFailurePercentage` (default 0).
    pub tolerated_percentage: Option<f64>,
    /// The Map has a `ResultWriter`: report each child as
    /// [`child_detail`] gives it rather than its output alone.
    #[serde(default)]
    pub detailed: bool,
    /// RedriveExecution: run the Map Run `map_run_arn` again, only its
    /// children that did not succeed (the other fields are unused).
    #[serde(default)]
    pub redrive: bool,
}

/// Where a Map Run stands (`status` of DescribeMapRun).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapRunStatus {
    /// Children still run or wait to start.
    Running,
    /// Every child ended within the tolerated failures.
    Succeeded,
    /// More children failed than tolerated.
    Failed,
    /// The parent stopped it.
    Aborted,
}

impl MapRunStatus {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            MapRunStatus::Running => "RUNNING",
            MapRunStatus::Succeeded => "SUCCEEDED",
            MapRunStatus::Failed => "FAILED",
            MapRunStatus::Aborted => "ABORTED",
        }
    }
}

/// How one child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    /// SUCCEEDED.
    Succeeded,
    /// FAILED.
    Failed,
    /// TIMED_OUT.
    TimedOut,
    /// ABORTED.
    Aborted,
}

/// Counts by status, of children (`executionCounts`) or of items
/// (`itemCounts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Not started yet.
    pub pending: u64,
    /// Running.
    pub running: u64,
    /// Succeeded.
    pub succeeded: u64,
    /// Failed.
    pub failed: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Aborted.
    pub aborted: u64,
    /// All of them.
    pub total: u64,
}

impl Counts {
    /// The API's shape (`executionCounts`, `itemCounts`).
    pub fn to_json(&self) -> Value {
        json!({
            "pending": self.pending,
            "running": self.running,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "timedOut": self.timed_out,
            "aborted": self.aborted,
            "total": self.total,
            "resultsWritten": 0,
            "failuresNotRedrivable": 0,
            "pendingRedrive": 0,
        })
    }

    fn add(&mut self, end: Option<ChildEnd>, n: u64) {
        match end {
            None => self.running += n,
            Some(ChildEnd::Succeeded) => self.succeeded += n,
            Some(ChildEnd::Failed) => self.failed += n,
            Some(ChildEnd::TimedOut) => self.timed_out += n,
            Some(ChildEnd::Aborted) => self.aborted += n,
        }
    }
}

/// A Map Run's progress: see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRun {
    /// Where it stands.
    pub status: MapRunStatus,
    /// The next child index to start.
    next: u32,
    /// `MaxConcurrency` (0: [`DEFAULT_CONCURRENCY`]).
    pub max_concurrency: u64,
    /// `ToleratedFailureCount`.
    pub tolerated_count: Option<u64>,
    /// `ToleratedFailurePercentage`.
    pub tolerated_percentage: Option<f64>,
    /// Children by status.
    pub executions: Counts,
    /// Items by status.
    pub items: Counts,
    /// Items in each child; empty: one each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    batch_sizes: Vec<u32>,
    /// The error it failed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StateError>,
    /// Children that failed, timed out or were aborted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    failed_indexes: Vec<u32>,
    /// Children to run again (a redrive), before the ones never started.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    retry: VecDeque<u32>,
    /// Times redriven.
    #[serde(default)]
    pub redrive_count: u32,
}

impl MapRun {
    /// A Map Run for the request, none of its children started.
    pub fn new(req: &MapRunRequest) -> MapRun {
        let n = req.inputs.len() as u64;
        let items: u64 = if req.batch_sizes.is_empty() {
            n
        } else {
            req.batch_sizes.iter().map(|s| *s as u64).sum()
        };
        MapRun {
            status: MapRunStatus::Running,
            next: 0,
            max_concurrency: req.max_concurrency,
            tolerated_count: req.tolerated_count,
            tolerated_percentage: req.tolerated_percentage,
            executions: Counts {
                pending: n,
                total: n,
                ..Counts::default()
            },
            items: Counts {
                pending: items,
                total: items,
                ..Counts::default()
            },
            batch_sizes: req.batch_sizes.clone(),
            error: None,
            failed_indexes: Vec::new(),
            retry: VecDeque::new(),
            redrive_count: 0,
        }
    }

    /// Children started so far (indexes below it).
    pub fn started(&self) -> u32 {
        self.next
    }

    fn size(&self, index: u32) -> u64 {
        self.batch_sizes.get(index as usize).map_or(1, |s| *s as u64)
    }

    /// The children to start now (under `MaxConcurrency`), counted as
    /// running: those a redrive reruns first, then the next never started.
    /// Nothing once the run has ended.
    pub fn to_start(&mut self) -> Vec<u32> {
        if self.status != MapRunStatus::Running {
            return Vec::new();
        }
        let limit = match self.max_concurrency {
            0 => DEFAULT_CONCURRENCY,
            n => n.min(DEFAULT_CONCURRENCY),
        };
        let room = limit
            .saturating_sub(self.executions.running)
            .min(self.executions.pending);
        let mut out = Vec::with_capacity(room as usize);
        while (out.len() as u64) < room {
            let i = match self.retry.pop_front() {
                Some(i) => i,
                None if (self.next as u64) < self.executions.total => {
                    self.next += 1;
                    self.next - 1
                }
                None => break,
            };
            let size = self.size(i);
            self.items.pending = self.items.pending.saturating_sub(size);
            self.items.running += size;
            out.push(i);
        }
        let n = out.len() as u64;
        self.executions.pending -= n;
        self.executions.running += n;
        out
    }

    /// RedriveExecution of the parent: the run goes on with the children
    /// that failed, timed out or were aborted, and those never started.
    /// False when it is running or succeeded.
    pub fn redrive(&mut self) -> bool {
        if matches!(self.status, MapRunStatus::Running | MapRunStatus::Succeeded) {
            return false;
        }
        self.status = MapRunStatus::Running;
        self.error = None;
        self.redrive_count += 1;
        // Children queued by an earlier redrive that never started stay queued.
        let mut retry = std::mem::take(&mut self.failed_indexes);
        retry.extend(self.retry.drain(..));
        retry.sort_unstable();
        retry.dedup();
        let never: Vec<u32> = (self.next..self.executions.total as u32).collect();
        self.executions.pending = (retry.len() + never.len()) as u64;
        self.items.pending = retry.iter().chain(&never).map(|i| self.size(*i)).sum();
        // Nothing runs once a run has ended (its children were stopped).
        for c in [&mut self.executions, &mut self.items] {
            c.failed = 0;
            c.timed_out = 0;
            c.aborted = 0;
            c.running = 0;
        }
        self.retry = retry.into();
        true
    }

    /// Records that child `index` ended. Returns the run's new status when
    /// this decided it: SUCCEEDED when it was the last, FAILED when the
    /// failures now exceed the tolerated ones (the caller stops the
    /// running children).
    pub fn child_ended(&mut self, index: u32, end: ChildEnd) -> Option<MapRunStatus> {
        let size = self.size(index);
        self.executions.running = self.executions.running.saturating_sub(1);
        self.executions.add(Some(end), 1);
        self.items.running = self.items.running.saturating_sub(size);
        self.items.add(Some(end), size);
        if end != ChildEnd::Succeeded {
            self.failed_indexes.push(index);
        }
        if self.status != MapRunStatus::Running {
            return None;
        }
        if end != ChildEnd::Succeeded && self.exceeded() {
            self.status = MapRunStatus::Failed;
            self.error = Some(StateError::new(
                EXCEED_TOLERATED_FAILURE_THRESHOLD,
                "The specified tolerated failure threshold was exceeded",
            ));
            self.executions.pending = 0;
            self.items.pending = 0;
            return Some(MapRunStatus::Failed);
        }
        if self.executions.running == 0 && self.executions.pending == 0 {
            self.status = MapRunStatus::Succeeded;
            return Some(MapRunStatus::Succeeded);
        }
        None
    }

    /// Failed items (failed, timed out or aborted) beyond the tolerated
    /// count or percentage.
    fn exceeded(&self) -> bool {
        let failed = self.items.failed + self.items.timed_out + self.items.aborted;
        let count = self.tolerated_count.unwrap_or(0);
        let pct = self.tolerated_percentage.unwrap_or(0.0);
        let over_pct = self.items.total > 0 && (failed as f64) * 100.0 / (self.items.total as f64) > pct;
        // With only one of the two set, that one decides.
        match (self.tolerated_count, self.tolerated_percentage) {
            (Some(_), None) => failed > count,
            (None, Some(_)) => over_pct,
            _ => failed > count || over_pct,
        }
    }

    /// The parent stopped: nothing more starts. Returns false when the run
    /// had already ended.
    pub fn abort(&mut self) -> bool {
        if self.status != MapRunStatus::Running {
            return false;
        }
        self.status = MapRunStatus::Aborted;
        self.executions.pending = 0;
        self.items.pending = 0;
        true
    }

    /// UpdateMapRun: new concurrency and tolerated failures, used from the
    /// next start of children on.
    pub fn update(&mut self, max_concurrency: Option<u64>, count: Option<u64>, percentage: Option<f64>) {
        if let Some(m) = max_concurrency {
            self.max_concurrency = m;
        }
        if count.is_some() {
            self.tolerated_count = count;
        }
        if percentage.is_some() {
            self.tolerated_percentage = percentage;
        }
    }
}

/// A child's identity: `arn:...:execution:MACHINE/LABEL:UUID`, named
/// `UUID`, in the state machine `MACHINE/LABEL` (as AWS shows a Map Run's
/// children).
pub fn child_info(parent: &ExecutionInfo, label: &str, uuid: &str, start_time_ms: i64) -> ExecutionInfo {
    let prefix = parent
        .execution_arn
        .rsplitn(3, ':')
        .nth(2)
        .unwrap_or("arn:aws:states:us-east-1:123456789012:execution");
    let machine = format!("{}/{label}", parent.state_machine_name);
    ExecutionInfo {
        execution_arn: format!("{prefix}:{machine}:{uuid}"),
        name: uuid.to_string(),
        state_machine_arn: format!("{}/{label}", parent.state_machine_arn),
        state_machine_name: machine,
        role_arn: parent.role_arn.clone(),
        start_time_ms,
    }
}

/// How a child ended, as a `ResultWriter` writes it (one entry of
/// `SUCCEEDED_0.json` or `FAILED_0.json`).
#[allow(clippy::too_many_arguments)]
pub fn child_detail(
    execution_arn: &str,
    name: &str,
    state_machine_arn: &str,
    status: &str,
    input: &str,
    start_ms: i64,
    stop_ms: i64,
    output: Result<&str, (&str, &str)>,
) -> Value {
    let mut d = json!({
        "ExecutionArn": execution_arn,
        "Name": name,
        "StateMachineArn": state_machine_arn,
        "Status": status,
        "StartDate": super::step::iso_millis(start_ms),
        "StopDate": super::step::iso_millis(stop_ms),
        "Input": input,
        "InputDetails": {"Included": true},
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
    });
    match output {
        Ok(o) => {
            d["Output"] = json!(o);
            d["OutputDetails"] = json!({"Included": true});
        }
        Err((error, cause)) => {
            d["Error"] = json!(error);
            d["Cause"] = json!(cause);
        }
    }
    d
}

/// A failed child's entry in the Map's output array: its error and cause,
/// as a catcher's error output.
pub fn failed_entry(error: &str, cause: &str) -> Value {
    json!({"Error": error, "Cause": cause})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(n: usize, max: u64, count: Option<u64>, pct: Option<f64>) -> MapRunRequest {
        MapRunRequest {
            token: 1,
            map_run_arn: "arn".into(),
            label: "L".into(),
            state_name: "M".into(),
            processor: 1,
            express: false,
            inputs: vec![Value::Null; n],
            batch_sizes: Vec::new(),
            max_concurrency: max,
            tolerated_count: count,
            tolerated_percentage: pct,
            detailed: false,
            redrive: false,
        }
    }

    #[test]
    fn starts_children_under_max_concurrency_and_succeeds_after_the_last() {
        let mut r = MapRun::new(&req(5, 2, None, None));
        assert_eq!(r.to_start(), [0, 1]);
        assert!(r.to_start().is_empty(), "two are running");
        assert_eq!(r.child_ended(0, ChildEnd::Succeeded), None);
        assert_eq!(r.to_start(), [2]);
        for i in [1, 2] {
            assert_eq!(r.child_ended(i, ChildEnd::Succeeded), None);
        }
        assert_eq!(r.to_start(), [3, 4]);
        assert_eq!(r.child_ended(3, ChildEnd::Succeeded), None);
        assert_eq!(r.child_ended(4, ChildEnd::Succeeded), Some(MapRunStatus::Succeeded));
        assert_eq!(r.executions.succeeded, 5);
        assert_eq!((r.executions.running, r.executions.pending), (0, 0));
    }

    #[test]
    fn zero_concurrency_means_the_default_bound() {
        let mut r = MapRun::new(&req(20_000, 0, None, None));
        assert_eq!(r.to_start(), (0..DEFAULT_CONCURRENCY as u32).collect::<Vec<_>>());
    }

    #[test]
    fn one_failure_fails_the_run_by_default() {
        let mut r = MapRun::new(&req(3, 0, None, None));
        r.to_start();
        assert_eq!(r.child_ended(1, ChildEnd::Failed), Some(MapRunStatus::Failed));
        assert_eq!(r.error.as_ref().unwrap().error, EXCEED_TOLERATED_FAILURE_THRESHOLD);
        assert!(r.to_start().is_empty(), "nothing starts after the failure");
        assert_eq!(r.child_ended(0, ChildEnd::Aborted), None, "decided once");
        assert_eq!(r.executions.aborted, 1);
    }

    #[test]
    fn tolerated_count_and_percentage_are_thresholds_to_exceed() {
        let mut r = MapRun::new(&req(10, 0, Some(2), None));
        r.to_start();
        assert_eq!(r.child_ended(0, ChildEnd::Failed), None);
        assert_eq!(r.child_ended(1, ChildEnd::TimedOut), None);
        assert_eq!(r.child_ended(2, ChildEnd::Aborted), Some(MapRunStatus::Failed));

        let mut r = MapRun::new(&req(10, 0, None, Some(20.0)));
        r.to_start();
        assert_eq!(r.child_ended(0, ChildEnd::Failed), None);
        assert_eq!(r.child_ended(1, ChildEnd::Failed), None, "20% is tolerated");
        assert_eq!(r.child_ended(2, ChildEnd::Failed), Some(MapRunStatus::Failed));

        let mut r = MapRun::new(&req(4, 0, None, Some(100.0)));
        r.to_start();
        for i in 0..3 {
            assert_eq!(r.child_ended(i, ChildEnd::Failed), None);
        }
        assert_eq!(r.child_ended(3, ChildEnd::Failed), Some(MapRunStatus::Succeeded));
    }

    #[test]
    fn batches_count_items() {
        let mut q = req(2, 0, None, Some(50.0));
        q.batch_sizes = vec![3, 1];
        let mut r = MapRun::new(&q);
        assert_eq!(r.items.total, 4);
        r.to_start();
        assert_eq!(r.items.running, 4);
        assert_eq!(r.child_ended(1, ChildEnd::Failed), None, "1 of 4 items");
        assert_eq!(r.child_ended(0, ChildEnd::Succeeded), Some(MapRunStatus::Succeeded));
        assert_eq!((r.items.succeeded, r.items.failed), (3, 1));
    }

    #[test]
    fn a_redrive_reruns_the_failed_and_the_never_started() {
        let mut r = MapRun::new(&req(6, 2, None, None));
        assert_eq!(r.to_start(), [0, 1]);
        assert_eq!(r.child_ended(0, ChildEnd::Succeeded), None);
        assert_eq!(r.to_start(), [2]);
        assert_eq!(r.child_ended(2, ChildEnd::Failed), Some(MapRunStatus::Failed));
        assert_eq!(r.child_ended(1, ChildEnd::Aborted), None);
        assert!(r.redrive());
        assert_eq!((r.executions.pending, r.executions.failed, r.redrive_count), (5, 0, 1));
        let mut started = r.to_start();
        assert_eq!(started, [1, 2]);
        for i in started.drain(..) {
            assert_eq!(r.child_ended(i, ChildEnd::Succeeded), None);
        }
        assert_eq!(r.to_start(), [3, 4]);
        assert_eq!(r.child_ended(3, ChildEnd::Succeeded), None);
        assert_eq!(r.child_ended(4, ChildEnd::Succeeded), None);
        assert_eq!(r.to_start(), [5]);
        assert_eq!(r.child_ended(5, ChildEnd::Succeeded), Some(MapRunStatus::Succeeded));
        assert_eq!(r.executions.succeeded, 6);
        assert!(!r.redrive(), "a succeeded run is not redriven");
    }

    #[test]
    fn a_second_redrive_keeps_the_children_the_first_had_not_started() {
        let mut r = MapRun::new(&req(4, 4, None, None));
        assert_eq!(r.to_start(), [0, 1, 2, 3]);
        assert_eq!(r.child_ended(0, ChildEnd::Failed), Some(MapRunStatus::Failed));
        for i in 1..4 {
            assert_eq!(r.child_ended(i, ChildEnd::Aborted), None);
        }
        assert!(r.redrive());
        r.update(Some(1), None, None);
        assert_eq!(r.to_start(), [0]);
        assert_eq!(r.child_ended(0, ChildEnd::Failed), Some(MapRunStatus::Failed));
        // 1 to 3 were queued by the first redrive and never started.
        assert!(r.redrive());
        assert_eq!((r.executions.pending, r.executions.running), (4, 0));
        let mut ran = Vec::new();
        loop {
            let s = r.to_start();
            if s.is_empty() {
                break;
            }
            for i in s {
                ran.push(i);
                r.child_ended(i, ChildEnd::Succeeded);
            }
        }
        assert_eq!(ran, [0, 1, 2, 3]);
        assert_eq!(r.status, MapRunStatus::Succeeded);
    }

    #[test]
    fn max_concurrency_is_bounded() {
        let mut r = MapRun::new(&req(20_000, 1_000_000, None, None));
        assert_eq!(r.to_start().len(), DEFAULT_CONCURRENCY as usize);
    }

    #[test]
    fn children_are_named_under_the_machine_and_label() {
        let p = ExecutionInfo::local("Sm", "run1", 0);
        let c = child_info(&p, "L", "u-1", 5);
        assert_eq!(
            c.execution_arn,
            "arn:aws:states:us-east-1:123456789012:execution:Sm/L:u-1"
        );
        assert_eq!(
            c.state_machine_arn,
            "arn:aws:states:us-east-1:123456789012:stateMachine:Sm/L"
        );
        assert_eq!((c.name.as_str(), c.start_time_ms), ("u-1", 5));
    }

    #[test]
    fn update_and_abort() {
        let mut r = MapRun::new(&req(4, 1, None, None));
        assert_eq!(r.to_start(), [0]);
        r.update(Some(3), Some(1), None);
        assert_eq!(r.to_start(), [1, 2]);
        assert!(r.abort());
        assert!(!r.abort());
        assert!(r.to_start().is_empty());
        assert_eq!(r.status, MapRunStatus::Aborted);
    }
}
