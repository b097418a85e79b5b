//! Task states: scheduling an invocation, its start, heartbeats, its end
//! and its timeouts. Activity resources record `Activity*` events in place
//! of `Task*` ones, as AWS does.

use super::data::Extra;
use super::{
    check_size, is_activity, resource_parts, Command, Execution, Flow, Frame, FrameId, Pending, Phase, TaskInvocation,
};
use crate::asl::error::{self, StateError};
use crate::asl::history::{not_truncated, Details};
use crate::asl::model::{Kind, Seconds, State, TaskSpec};
use serde_json::{json, Value};

/// Effective `TimeoutSeconds`/`HeartbeatSeconds` and their `...Path` forms.
fn seconds(ex: &Execution, f: &Frame, s: &Option<Seconds>, eff: &Value, name: &str) -> Result<Option<u64>, StateError> {
    match s {
        None => Ok(None),
        Some(Seconds::Literal(n)) => Ok(Some(*n)),
        Some(Seconds::Expr(_)) => Err(StateError::runtime(format!("a JSONata {name} in a JSONPath state"))),
        Some(Seconds::Path(p)) => {
            let v = ex.select(f, p, eff, name)?;
            match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(StateError::runtime(format!(
                    "The {name} field must reference a positive integer, got {v}"
                ))),
            }
        }
    }
}

impl Execution {
    pub(super) fn run_task(
        &mut self,
        fid: FrameId,
        f: &mut Frame,
        st: &State,
        spec: &TaskSpec,
    ) -> Result<Flow, StateError> {
        let token = self.token();
        let task_token = self.task_token(token);
        let (parameters, credentials, timeout, heartbeat) = if let Some(j) = &st.jsonata {
            let extra = Extra {
                task_token: Some(&task_token),
                map_item: None,
            };
            let parameters = self.arguments_jsonata(f, j, extra)?;
            let timeout = match &spec.timeout {
                Some(s) => Some(self.jnumber(f, s, "TimeoutSeconds", true)?),
                None => None,
            };
            let heartbeat = match &spec.heartbeat {
                Some(s) => Some(self.jnumber(f, s, "HeartbeatSeconds", true)?),
                None => None,
            };
            let seen = super::jsonata::Seen {
                extra,
                ..Default::default()
            };
            let credentials = match &spec.jsonata_credentials {
                Some(c) => Some(self.jvalue(f, c, "Credentials", seen)?),
                None => None,
            };
            (parameters, credentials, timeout, heartbeat)
        } else {
            let eff = self.effective_input(st, f)?;
            let extra = Extra {
                task_token: Some(&task_token),
                map_item: None,
            };
            let scope = self.scope(f, &eff, extra);
            let parameters = match &st.parameters {
                Some(p) => p.eval(&scope)?,
                None => eff.as_ref().clone(),
            };
            let credentials = spec.credentials.as_ref().map(|c| c.eval(&scope)).transpose()?;
            (
                parameters,
                credentials,
                seconds(self, f, &spec.timeout, &eff, "TimeoutSecondsPath")?,
                seconds(self, f, &spec.heartbeat, &eff, "HeartbeatSecondsPath")?,
            )
        };
        check_size(&parameters, || {
            format!("The state/task '{}' was given parameters", st.name)
        })?;
        if self.opts.history {
            let d = if is_activity(&spec.resource) {
                let mut d = json!({"resource": &*spec.resource, "input": parameters.to_string(), "inputDetails": not_truncated()});
                if let Some(t) = timeout {
                    d["timeoutInSeconds"] = json!(t);
                }
                if let Some(h) = heartbeat {
                    d["heartbeatInSeconds"] = json!(h);
                }
                ("ActivityScheduled", ("activityScheduledEventDetails", d.into()))
            } else {
                let region = self.region.get_or_insert_with(|| self.info.region().into()).clone();
                let parameters = self.payload(&parameters);
                let d = Details::task_scheduled(spec.resource.clone(), region, parameters, timeout, heartbeat);
                ("TaskScheduled", ("taskScheduledEventDetails", d))
            };
            f.last_event = self.record(d.0, f.last_event, Some(d.1));
        }
        self.pending.insert(token, (fid, Pending::Task));
        let timeout_token = timeout.map(|t| {
            let tt = self.token();
            self.pending.insert(tt, (fid, Pending::TaskTimeout));
            self.out.push(Command::StartTimer {
                token: tt,
                fire_at_ms: self.now + t as i64 * 1000,
            });
            tt
        });
        let heartbeat_token = heartbeat.map(|h| {
            let ht = self.token();
            self.pending.insert(ht, (fid, Pending::Heartbeat));
            self.out.push(Command::StartTimer {
                token: ht,
                fire_at_ms: self.now + h as i64 * 1000,
            });
            (ht, h)
        });
        let invocation = {
            let n = self.invocations.entry(f.state).or_insert(0);
            *n += 1;
            *n - 1
        };
        self.out.push(Command::InvokeTask(Box::new(TaskInvocation {
            token,
            resource: spec.resource.clone(),
            parameters,
            state_name: st.name.clone(),
            task_token,
            timeout_seconds: timeout,
            heartbeat_seconds: heartbeat,
            attempt: f.retry_count,
            invocation,
            credentials,
        })));
        f.phase = Phase::Task {
            token,
            timeout: timeout_token,
            heartbeat: heartbeat_token,
            started: false,
        };
        Ok(Flow::Blocked)
    }

    /// The resource of the Task state a frame is in.
    fn resource_of(&self, f: &Frame) -> std::sync::Arc<str> {
        match &self.machine.state(f.state).kind {
            Kind::Task(spec) => spec.resource.clone(),
            _ => "".into(),
        }
    }

    /// Records `TaskStarted` (or `ActivityStarted`) once.
    fn record_started(&mut self, f: &mut Frame, worker: Option<String>) {
        let Phase::Task { started, .. } = &mut f.phase else {
            return;
        };
        if std::mem::replace(started, true) {
            return;
        }
        let resource = self.resource_of(f);
        let (ty, d) = if is_activity(&resource) {
            let d = match worker {
                Some(w) => json!({"workerName": w}),
                None => json!({}),
            };
            ("ActivityStarted", ("activityStartedEventDetails", d.into()))
        } else {
            (
                "TaskStarted",
                ("taskStartedEventDetails", Details::task_started(resource)),
            )
        };
        f.last_event = self.record(ty, f.last_event, self.opts.history.then_some(d));
    }

    pub(super) fn task_started(&mut self, fid: FrameId, worker: Option<String>) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        self.record_started(&mut f, worker);
        self.put_frame(fid, f);
    }

    pub(super) fn task_done(&mut self, fid: FrameId, r: Result<Value, StateError>) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        match f.phase {
            Phase::Reading { .. } => return self.items_read(fid, f, r),
            Phase::Writing { .. } => return self.results_written(fid, f, r),
            _ => {}
        }
        if !matches!(f.phase, Phase::Task { .. }) {
            self.put_frame(fid, f);
            return;
        }
        let resource = self.resource_of(&f);
        let activity = is_activity(&resource);
        // An Activity starts when a worker takes it; failing before that is
        // a failure to schedule it (the Activity does not exist).
        let schedule_failed = activity && r.is_err() && matches!(f.phase, Phase::Task { started: false, .. });
        if !schedule_failed {
            self.record_started(&mut f, None);
        }
        let Phase::Task { timeout, heartbeat, .. } = std::mem::replace(&mut f.phase, Phase::Ready) else {
            unreachable!("checked above")
        };
        self.cancel_timer(timeout);
        self.cancel_timer(heartbeat.map(|h| h.0));
        let name = self.machine.state(f.state).name.clone();
        let r = r.and_then(|v| check_size(&v, || format!("The state/task '{name}' returned a result")).map(|_| v));
        let flow = match r {
            Ok(v) => {
                if self.opts.history {
                    let (ty, d) = if activity {
                        let d = json!({"output": v.to_string(), "outputDetails": not_truncated()});
                        ("ActivitySucceeded", ("activitySucceededEventDetails", d.into()))
                    } else {
                        let output = self.payload(&v);
                        (
                            "TaskSucceeded",
                            (
                                "taskSucceededEventDetails",
                                Details::task_succeeded(resource.clone(), output),
                            ),
                        )
                    };
                    f.last_event = self.record(ty, f.last_event, Some(d));
                }
                match self.apply_result(&mut f, v) {
                    Ok(flow) => flow,
                    Err(e) => self.state_error(fid, &mut f, e),
                }
            }
            Err(e) => {
                if self.opts.history {
                    let d = failure_details(&resource, &e);
                    let ty = if schedule_failed {
                        ("ActivityScheduleFailed", "activityScheduleFailedEventDetails")
                    } else if activity {
                        ("ActivityFailed", "activityFailedEventDetails")
                    } else {
                        ("TaskFailed", "taskFailedEventDetails")
                    };
                    f.last_event = self.record(ty.0, f.last_event, Some((ty.1, d.into())));
                }
                self.state_error(fid, &mut f, e)
            }
        };
        self.after(fid, f, flow);
    }

    /// Records a running task's note ([`Event::TaskNote`](super::Event::TaskNote)).
    pub(super) fn task_note(&mut self, fid: FrameId, details: Value) {
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        if matches!(f.phase, Phase::Task { .. }) {
            self.record_started(&mut f, None);
            f.last_event = self.record(
                "HostCallRecorded",
                f.last_event,
                self.opts
                    .history
                    .then(|| ("hostCallRecordedEventDetails", details.into())),
            );
        }
        self.put_frame(fid, f);
    }

    pub(super) fn heartbeat(&mut self, fid: FrameId) {
        let Some(f) = self.frames.get_mut(fid as usize).and_then(Option::as_mut) else {
            return;
        };
        if let Phase::Task {
            heartbeat: Some((ht, secs)),
            ..
        } = &mut f.phase
        {
            let old = *ht;
            let secs = *secs;
            let new = self.next_token;
            self.next_token += 1;
            *ht = new;
            self.pending.remove(&old);
            self.pending.insert(new, (fid, Pending::Heartbeat));
            self.out.push(Command::CancelTimer { token: old });
            self.out.push(Command::StartTimer {
                token: new,
                fire_at_ms: self.now + secs as i64 * 1000,
            });
        }
    }

    /// A timer fired: the execution's timeout, a Wait's end, a retry's
    /// backoff, or a task's timeout or missed heartbeat.
    pub(super) fn timer(&mut self, fid: FrameId, token: u64, kind: Pending) {
        if let Pending::Resume = kind {
            return; // the ready frames run in the drain that follows
        }
        if let Pending::ExecutionTimeout = kind {
            let e = StateError::new(
                error::TIMEOUT,
                "The execution ran longer than the state machine's TimeoutSeconds",
            );
            self.finish(super::Status::TimedOut(e));
            return;
        }
        let Some(mut f) = self.take_frame(fid) else {
            return;
        };
        let flow = match (kind, std::mem::replace(&mut f.phase, Phase::Ready)) {
            (Pending::Wait, Phase::Waiting { token: t, output }) if t == token => {
                let next = self.machine.state(f.state).next;
                match self.exit(&mut f, output, next) {
                    Ok(flow) => flow,
                    Err(e) => self.state_error(fid, &mut f, e),
                }
            }
            (Pending::Backoff, Phase::Backoff { token: t }) if t == token => Flow::Continue,
            (
                Pending::TaskTimeout | Pending::Heartbeat,
                Phase::Task {
                    token: task,
                    timeout,
                    heartbeat,
                    ..
                },
            ) => {
                self.pending.remove(&task);
                self.out.push(Command::CancelTask {
                    token: task,
                    timed_out: true,
                });
                self.cancel_timer(timeout);
                self.cancel_timer(heartbeat.map(|h| h.0));
                let (name, cause) = match kind {
                    Pending::TaskTimeout => (error::TIMEOUT, "The task ran longer than its TimeoutSeconds"),
                    _ => (
                        error::HEARTBEAT_TIMEOUT,
                        "The task sent no heartbeat within its HeartbeatSeconds",
                    ),
                };
                let e = StateError::new(name, cause);
                if self.opts.history {
                    let resource = self.resource_of(&f);
                    let ty = if is_activity(&resource) {
                        ("ActivityTimedOut", "activityTimedOutEventDetails")
                    } else {
                        ("TaskTimedOut", "taskTimedOutEventDetails")
                    };
                    let d = failure_details(&resource, &e);
                    f.last_event = self.record(ty.0, f.last_event, Some((ty.1, d.into())));
                }
                self.state_error(fid, &mut f, e)
            }
            (_, phase) => {
                f.phase = phase;
                Flow::Blocked
            }
        };
        self.after(fid, f, flow);
    }
}

/// `{resourceType, resource, error, cause}` (Activities: `{error, cause}`),
/// leaving out an empty error or cause.
fn failure_details(resource: &str, e: &StateError) -> Value {
    let mut d = serde_json::Map::new();
    if !is_activity(resource) {
        let (rt, res) = resource_parts(resource);
        d.insert("resourceType".into(), json!(rt));
        d.insert("resource".into(), json!(res));
    }
    if let Value::Object(m) = super::error_details(e) {
        d.extend(m);
    }
    Value::Object(d)
}
