//! Distributed Map states: the core evaluates the fields, batches the items
//! and hands the Map Run to the executor ([`Command::StartMapRun`]); it
//! waits for [`Event::MapRunEnded`](super::Event) as a Task waits for its
//! result, then goes on with `ResultSelector`, `ResultPath`, Retry and
//! Catch like any Map.

use super::data::Extra;
use super::jsonata::Seen;
use super::{
    check_size, error_details, json_size, Command, Execution, Flow, Frame, FrameId, Parent, Pending, Phase, RedriveMap,
    TaskInvocation,
};
use crate::asl::error::StateError;
use crate::asl::history::Details;
use crate::asl::intrinsics::uuid_v4;
use crate::asl::maprun::MapRunRequest;
use crate::asl::model::{Batcher, Distributed, Kind, MapSpec, Number, Resourced, State};
use crate::asl::path::Path;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

impl Execution {
    pub(super) fn run_distributed(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        spec: &MapSpec,
        d: &Distributed,
    ) -> Result<Flow, StateError> {
        let resume = self.resume_map.take().filter(|m| m.state == f.state);
        if matches!(f.parent, Parent::Top) {
            self.redrive_map = None;
        }
        if let Some(arn) = resume.and_then(|m| m.map_run) {
            return Ok(self.redrive_map_run(fid, f, st, spec, d, arn));
        }
        if let Some(r) = &d.reader {
            return self.read_items(fid, f, st, r);
        }
        let (items, max_concurrency) = self.map_inputs(f, st, spec)?;
        self.start_map_run(fid, f, st, spec, d, items, max_concurrency)
    }

    /// RedriveExecution stopped at this Distributed Map: its Map Run goes on
    /// with the children that did not succeed (no items are read again).
    fn redrive_map_run(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        spec: &MapSpec,
        d: &Distributed,
        map_run_arn: String,
    ) -> Flow {
        let h = self.opts.history;
        let d_ev = h.then(|| {
            let details = json!({ "mapRunArn": map_run_arn, "redriveCount": self.redrive_count });
            ("mapRunRedrivenEventDetails", details.into())
        });
        f.last_event = self.record("MapRunRedriven", f.last_event, d_ev);
        let token = self.token();
        self.pending.insert(token, (fid, Pending::MapRun));
        self.out.push(Command::StartMapRun(Box::new(MapRunRequest {
            token,
            map_run_arn: map_run_arn.clone(),
            label: String::new(),
            state_name: st.name.clone(),
            processor: spec.processor,
            express: d.express,
            inputs: Vec::new(),
            batch_sizes: Vec::new(),
            max_concurrency: 0,
            tolerated_count: None,
            tolerated_percentage: None,
            detailed: d.writer.is_some(),
            redrive: true,
        })));
        f.phase = Phase::MapRun {
            token,
            arn: map_run_arn,
        };
        Flow::Blocked
    }

    /// Asks for the `ItemReader`'s items: a task of the resource
    /// `arn:aslan:states:::s3-reader:ACTION` whose parameters are the
    /// evaluated `Parameters` (or `Arguments`) and the `ReaderConfig`, and
    /// whose result is the array of items.
    fn read_items(&mut self, fid: FrameId, f: &mut Frame, st: &State, r: &Resourced) -> Result<Flow, StateError> {
        let params = self.resourced_parameters(f, st, r)?;
        let mut config = match &r.config {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        if let Some(Value::String(p)) = config.remove("MaxItemsPath") {
            let path = Path::parse(&p).map_err(|e| StateError::runtime(e.to_string()))?;
            let eff = self.effective_input(st, f)?;
            let v = self.select(f, &path, &eff, "MaxItemsPath")?;
            let n = v.as_u64().ok_or_else(|| {
                StateError::runtime(format!("MaxItemsPath must reference a non-negative integer, got {v}"))
            })?;
            config.insert("MaxItems".into(), n.into());
        }
        let action = r.resource.rsplit(':').next().unwrap_or_default();
        let parameters = json!({"Parameters": params, "ReaderConfig": config});
        let token = self.internal_task(fid, f, st, &format!("s3-reader:{action}"), parameters);
        f.phase = Phase::Reading { token };
        Ok(Flow::Blocked)
    }

    /// The evaluated `Parameters` (or `Arguments`) of an `ItemReader` or
    /// `ResultWriter`.
    fn resourced_parameters(&mut self, f: &mut Frame, st: &State, r: &Resourced) -> Result<Value, StateError> {
        Ok(if let Some(j) = &r.arguments {
            self.jvalue(f, j, "Arguments", Seen::default())?
        } else if let Some(t) = &r.parameters {
            let eff = self.effective_input(st, f)?;
            t.eval(&self.scope(f, &eff, Extra::default()))?
        } else {
            Value::Object(Map::new())
        })
    }

    /// Invokes `arn:aslan:states:::{what}` for the state, as a task whose
    /// result the state waits for; returns its token.
    fn internal_task(&mut self, fid: FrameId, f: &Frame, st: &State, what: &str, parameters: Value) -> u64 {
        let token = self.token();
        let task_token = self.task_token(token);
        let invocation = {
            let n = self.invocations.entry(f.state).or_insert(0);
            *n += 1;
            *n - 1
        };
        self.pending.insert(token, (fid, Pending::Task));
        self.out.push(Command::InvokeTask(Box::new(TaskInvocation {
            token,
            resource: format!("arn:aslan:states:::{what}").into(),
            parameters,
            state_name: st.name.clone(),
            task_token,
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt: f.retry_count,
            invocation,
            credentials: None,
        })));
        token
    }

    /// The `ItemReader` answered: select the items and start the Map Run,
    /// or fail the state (Retry and Catch apply).
    pub(super) fn items_read(&mut self, fid: FrameId, mut f: Frame, r: Result<Value, StateError>) {
        f.phase = Phase::Ready;
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let flow = match &st.kind {
            Kind::Map(spec) => match (&spec.distributed, r) {
                (Some(d), Ok(Value::Array(list))) => self
                    .select_read_items(&mut f, st, spec, list)
                    .and_then(|(items, mc)| self.start_map_run(fid, &mut f, st, spec, d, items, mc)),
                (_, Ok(v)) => Err(StateError::new(
                    crate::asl::error::ITEM_READER_FAILED,
                    format!("The ItemReader gave {} instead of an array of items", kind_of(&v)),
                )),
                (_, Err(e)) => Err(e),
            },
            _ => Err(StateError::runtime(
                "an ItemReader answered for a state that is not a Map",
            )),
        };
        let flow = flow.unwrap_or_else(|e| self.state_error(fid, &mut f, e));
        self.after(fid, f, flow);
    }

    /// The reader's items through `ItemSelector`, and `MaxConcurrency`.
    fn select_read_items(
        &mut self,
        f: &mut Frame,
        st: &State,
        spec: &MapSpec,
        list: Vec<Value>,
    ) -> Result<(VecDeque<(u32, Value)>, usize), StateError> {
        let enumerate = |list: Vec<Value>| list.into_iter().enumerate().map(|(i, v)| (i as u32, v)).collect();
        if st.jsonata.is_some() {
            let mc = self.jnumber(f, &spec.max_concurrency, "MaxConcurrency", false)? as usize;
            let items = match &spec.jsonata_selector {
                None => enumerate(list),
                Some(sel) => self.select_jsonata(f, sel, &list)?,
            };
            return Ok((items, mc));
        }
        let eff = self.effective_input(st, f)?;
        let mc = self.path_concurrency(f, spec, &eff)?;
        let items = match &spec.item_selector {
            None => enumerate(list),
            Some(sel) => self.select_path(f, &eff, sel, &list)?,
        };
        Ok((items, mc))
    }

    /// Evaluates the tolerated failures, batches the items and emits
    /// [`Command::StartMapRun`].
    #[allow(clippy::too_many_arguments)]
    fn start_map_run(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        spec: &MapSpec,
        d: &Distributed,
        items: VecDeque<(u32, Value)>,
        max_concurrency: usize,
    ) -> Result<Flow, StateError> {
        let tolerated_count = self
            .number(f, st, d.tolerated_count.as_ref(), "ToleratedFailureCount", None)?
            .map(|n| n as u64);
        let tolerated_percentage = self.number(
            f,
            st,
            d.tolerated_percentage.as_ref(),
            "ToleratedFailurePercentage",
            Some(100.0),
        )?;
        let n_items = items.len();
        let (inputs, batch_sizes) = match &d.batcher {
            None => (items.into_iter().map(|(_, v)| v).collect(), Vec::new()),
            Some(b) => self.batches(f, st, b, items)?,
        };
        let uuid = uuid_v4(self.random(), self.random());
        let label = match &d.label {
            Some(l) => l.to_string(),
            None => uuid_v4(self.random(), self.random()),
        };
        let map_run_arn = self.map_run_arn(&label, &uuid);
        let arn_for_request = map_run_arn.clone();
        let h = self.opts.history;
        let started = h.then(|| ("mapStateStartedEventDetails", Details::map_state_started(n_items)));
        f.last_event = self.record("MapStateStarted", f.last_event, started);
        let run = h.then(|| ("mapRunStartedEventDetails", json!({ "mapRunArn": map_run_arn }).into()));
        f.last_event = self.record("MapRunStarted", f.last_event, run);
        let token = self.token();
        self.pending.insert(token, (fid, Pending::MapRun));
        self.out.push(Command::StartMapRun(Box::new(MapRunRequest {
            token,
            map_run_arn: arn_for_request,
            label,
            state_name: st.name.clone(),
            processor: spec.processor,
            express: d.express,
            inputs,
            batch_sizes,
            max_concurrency: max_concurrency as u64,
            tolerated_count,
            tolerated_percentage,
            detailed: d.writer.is_some(),
            redrive: false,
        })));
        f.phase = Phase::MapRun {
            token,
            arn: map_run_arn,
        };
        Ok(Flow::Blocked)
    }

    /// `arn:aws:states:REGION:ACCOUNT:mapRun:MACHINE/LABEL:UUID`.
    fn map_run_arn(&self, label: &str, uuid: &str) -> String {
        let parts: Vec<&str> = self.info.execution_arn.splitn(6, ':').collect();
        let (partition, region, account) = match parts.as_slice() {
            [_, p, _, r, a, ..] => (*p, *r, *a),
            _ => ("aws", "", ""),
        };
        format!(
            "arn:{partition}:states:{region}:{account}:mapRun:{}/{label}:{uuid}",
            self.info.state_machine_name
        )
    }

    /// A tolerated-failure field: a literal, a path or an expression.
    fn number(
        &mut self,
        f: &mut Frame,
        st: &State,
        n: Option<&Number>,
        field: &str,
        max: Option<f64>,
    ) -> Result<Option<f64>, StateError> {
        let v = match n {
            None => return Ok(None),
            Some(Number::Literal(x)) => return Ok(Some(*x)),
            Some(Number::Path(p)) => {
                let eff = self.effective_input(st, f)?;
                self.select(f, p, &eff, &format!("{field}Path"))?.into_owned()
            }
            Some(Number::Expr(j)) => self.jvalue(f, j, field, Seen::default())?,
        };
        let integer = max.is_none();
        match v.as_f64() {
            Some(x) if x >= 0.0 && max.is_none_or(|m| x <= m) && (!integer || x.fract() == 0.0) => Ok(Some(x)),
            _ => {
                let what = match max {
                    None => "a non-negative integer".to_string(),
                    Some(m) => format!("a number from 0 to {m}"),
                };
                Err(StateError::runtime(format!(
                    "Map state '{}': {field} must be {what}, got {v}",
                    st.name
                )))
            }
        }
    }

    /// Groups the items by `ItemBatcher`: each batch is
    /// `{"Items": [...]}`, with `"BatchInput"` when the batcher has one.
    fn batches(
        &mut self,
        f: &mut Frame,
        st: &State,
        b: &Batcher,
        items: VecDeque<(u32, Value)>,
    ) -> Result<(Vec<Value>, Vec<u32>), StateError> {
        let max_items = self
            .number(f, st, b.max_items.as_ref(), "MaxItemsPerBatch", None)?
            .map_or(usize::MAX, |n| (n as usize).max(1));
        let max_bytes = self
            .number(f, st, b.max_bytes.as_ref(), "MaxInputBytesPerBatch", None)?
            .map_or(crate::asl::error::PAYLOAD_LIMIT, |n| {
                (n as usize).clamp(1, crate::asl::error::PAYLOAD_LIMIT)
            });
        let batch_input = if let Some(j) = &b.jsonata_batch_input {
            Some(self.jvalue(f, j, "BatchInput", Seen::default())?)
        } else if let Some(t) = &b.batch_input {
            let eff = self.effective_input(st, f)?;
            Some(t.eval(&self.scope(f, &eff, Extra::default()))?)
        } else {
            None
        };
        let base = match &batch_input {
            // {"BatchInput":...,"Items":[]}
            Some(bi) => json_size(bi).unwrap_or(0) + 26,
            None => 11,
        };
        let mut inputs = Vec::new();
        let mut sizes = Vec::new();
        let mut cur: Vec<Value> = Vec::new();
        let mut bytes = base;
        let flush = |cur: &mut Vec<Value>, inputs: &mut Vec<Value>, sizes: &mut Vec<u32>| {
            let mut o = Map::new();
            if let Some(bi) = &batch_input {
                o.insert("BatchInput".into(), bi.clone());
            }
            sizes.push(cur.len() as u32);
            o.insert("Items".into(), Value::Array(std::mem::take(cur)));
            inputs.push(Value::Object(o));
        };
        for (_, item) in items {
            let size = json_size(&item).unwrap_or(0) + 1;
            if !cur.is_empty() && (cur.len() >= max_items || bytes + size > max_bytes) {
                flush(&mut cur, &mut inputs, &mut sizes);
                bytes = base;
            }
            bytes += size;
            cur.push(item);
        }
        if !cur.is_empty() {
            flush(&mut cur, &mut inputs, &mut sizes);
        }
        Ok((inputs, sizes))
    }

    /// The Map Run ended: its outputs go on as the Map's result (through
    /// the `ResultWriter` when there is one), its error through Retry and
    /// Catch.
    pub(super) fn map_run_ended(&mut self, fid: FrameId, r: Result<Value, StateError>) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        let Phase::MapRun { arn, .. } = std::mem::replace(&mut f.phase, Phase::Ready) else {
            self.put_frame(fid, f);
            return;
        };
        let machine = self.machine.clone();
        let st = machine.state(f.state);
        let writer = match &st.kind {
            Kind::Map(spec) => spec.distributed.as_ref().and_then(|d| d.writer.as_deref()),
            _ => None,
        };
        let name = st.name.clone();
        // Results a writer takes go to S3, not into the state's output.
        let r = match writer {
            Some(_) => r,
            None => r.and_then(|v| check_size(&v, || format!("The state/task '{name}' returned a result")).map(|_| v)),
        };
        let flow = match r {
            Ok(v) => {
                f.last_event = self.record("MapRunSucceeded", f.last_event, None);
                match writer {
                    Some(w) => self.write_results(fid, &mut f, st, w, arn, v),
                    None => {
                        let results = match v {
                            Value::Array(a) => a,
                            v => vec![v],
                        };
                        self.children_done(&mut f, results)
                    }
                }
                .unwrap_or_else(|e| self.state_error(fid, &mut f, e))
            }
            Err(e) => {
                let d = self
                    .opts
                    .history
                    .then(|| ("mapRunFailedEventDetails", error_details(&e).into()));
                f.last_event = self.record("MapRunFailed", f.last_event, d);
                if matches!(f.parent, Parent::Top) {
                    // A redrive goes on with this Map Run.
                    self.redrive_map = Some(Box::new(RedriveMap {
                        state: f.state,
                        results: Vec::new(),
                        map_run: Some(arn),
                    }));
                }
                self.state_error(fid, &mut f, e)
            }
        };
        self.after(fid, f, flow);
    }

    /// Hands the children's results to the `ResultWriter`: a task of the
    /// resource `arn:aslan:states:::s3-writer:putObject` whose result is
    /// the Map's (`{"MapRunArn", "ResultWriterDetails"}`).
    fn write_results(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        w: &Resourced,
        map_run_arn: String,
        results: Value,
    ) -> Result<Flow, StateError> {
        let params = self.resourced_parameters(f, st, w)?;
        let parameters = json!({
            "Parameters": params,
            "WriterConfig": w.config.clone().unwrap_or_else(|| json!({})),
            "MapRunArn": map_run_arn,
            "Results": results,
        });
        let token = self.internal_task(fid, f, st, "s3-writer:putObject", parameters);
        f.phase = Phase::Writing { token };
        Ok(Flow::Blocked)
    }

    /// The `ResultWriter` answered.
    pub(super) fn results_written(&mut self, fid: FrameId, mut f: Frame, r: Result<Value, StateError>) {
        f.phase = Phase::Ready;
        let flow = r
            .and_then(|v| {
                f.last_event = self.record("MapStateSucceeded", f.last_event, None);
                self.apply_result(&mut f, v)
            })
            .unwrap_or_else(|e| self.state_error(fid, &mut f, e));
        self.after(fid, f, flow);
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
