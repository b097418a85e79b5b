//! `import aslan`: the durable Step Functions engine ([`aslan_engine::Engine`])
//! in a Python process, with Python functions as task handlers.
//!
//! JSON crosses the boundary as text, through Python's `json` module, so
//! every value is a plain `dict`, `list`, `str`, number, bool or `None`.
//! Calls that wait release the GIL; handlers run on the engine's threads
//! and take the GIL for the call.

use aslan_engine::asl::StateError;
use aslan_engine::exec::clock::Clock as _;
use aslan_engine::exec::durable::{CommittedEvents, TaskAnswer};
use aslan_engine::store::ExecutionRecord;
use aslan_engine::{Engine as Core, EngineError};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

pyo3::create_exception!(
    aslan,
    AslanError,
    PyException,
    "An engine call failed (an invalid definition, an unknown execution, ...)."
);

fn err(e: EngineError) -> PyErr {
    AslanError::new_err(e.to_string())
}

/// Seconds from Python as a duration: negative is zero, and what no
/// duration holds (infinity, NaN, 1e300) is a year.
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::from_secs(365 * 24 * 3600))
}

/// `json.loads(text)`.
fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// `json.dumps(v)`, parsed.
fn dumps(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    let text: String = v.py().import("json")?.call_method1("dumps", (v,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| AslanError::new_err(e.to_string()))
}

/// A record as a `dict`: `executionArn`, `name`, `stateMachineArn`,
/// `status`, `input`, `output`, `error`, `cause` (parsed JSON where AWS
/// has JSON text).
fn record<'py>(py: Python<'py>, r: &ExecutionRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("executionArn", &r.arn)?;
    d.set_item("name", &r.name)?;
    d.set_item("stateMachineArn", &r.sm_arn)?;
    d.set_item("status", r.status.as_str())?;
    d.set_item("input", loads(py, &r.input)?)?;
    match &r.output {
        Some(o) => d.set_item("output", loads(py, o)?)?,
        None => d.set_item("output", py.None())?,
    }
    d.set_item("error", &r.error)?;
    d.set_item("cause", &r.cause)?;
    Ok(d)
}

/// Calls a Python handler with the task's parameters. An exception fails
/// the task with the exception's class name as the error (what Retry and
/// Catch match) and its message as the cause.
fn call_handler(f: &Py<PyAny>, parameters: &str) -> Result<Value, StateError> {
    Python::attach(|py| {
        let outcome = loads(py, parameters)
            .and_then(|arg| f.call1(py, (arg,)))
            .and_then(|r| dumps(r.bind(py)));
        outcome.map_err(|e| {
            let name = e
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into());
            let cause = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
            StateError::new(name, cause)
        })
    })
}

/// A durable Step Functions engine: `Engine(path=None, tasks={})`.
///
/// `path` is a folder that keeps every execution (created if missing); without
/// it the engine keeps them in memory. `tasks` maps a resource ARN prefix
/// (`"arn:aslan:states:::task:resize"`) to a function called with the Task's
/// parameters; its return value (anything `json.dumps` accepts) is the result.
#[pyclass(module = "aslan")]
struct Engine {
    /// Taken only by `Drop`.
    rt: Option<tokio::runtime::Runtime>,
    /// `None` once closed. Each call clones the `Arc` out, so `close()` on
    /// one thread never waits for (or breaks) a call running on another:
    /// that call ends with an error once the executor has stopped, and the
    /// folder is released when the last call returns.
    core: std::sync::Mutex<Option<Arc<Core>>>,
}

impl Drop for Engine {
    /// Dropped without `close()` (garbage collection, interpreter exit):
    /// the runtime is shut down in the background, without waiting for
    /// handler threads that may be waiting for the GIL this thread holds.
    fn drop(&mut self) {
        self.core.get_mut().map(Option::take).ok();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Engine {
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until the engine is dropped")
    }

    fn answer(&self, py: Python<'_>, token: &str, answer: TaskAnswer) -> PyResult<()> {
        let core = self.core()?;
        py.detach(|| self.rt().block_on(core.executor().answer_task(token, answer)))
            .map_err(|e| AslanError::new_err(e.to_string()))
    }

    fn core(&self) -> PyResult<Arc<Core>> {
        self.core
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| AslanError::new_err("the engine is closed"))
    }
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (path=None, tasks=None, simulated_clock=false))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        tasks: Option<Bound<'_, PyDict>>,
        simulated_clock: bool,
    ) -> PyResult<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aslan")
            .enable_all()
            .build()
            .map_err(|e| AslanError::new_err(e.to_string()))?;
        let mut b = Core::builder();
        b = match path {
            Some(p) => b.path(p),
            None => b.in_memory(),
        };
        if simulated_clock {
            // Wait states, retry intervals and timeouts take no real time.
            let start = aslan_engine::exec::clock::SystemClock.now_ms();
            b = b.clock(Arc::new(aslan_engine::exec::clock::SimulatedClock::new(start)));
        }
        for (k, v) in tasks.iter().flat_map(|t| t.iter()) {
            let resource: String = k.extract()?;
            if !v.is_callable() {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "the handler of {resource} is not callable"
                )));
            }
            let f: Arc<Py<PyAny>> = Arc::new(v.unbind());
            b = b.task(&resource, move |task| {
                let f = f.clone();
                let parameters = task.invocation.parameters.to_string();
                async move {
                    tokio::task::spawn_blocking(move || call_handler(&f, &parameters))
                        .await
                        .unwrap_or_else(|e| Err(StateError::new("States.TaskFailed", e.to_string())))
                }
            });
        }
        let core = py.detach(|| rt.block_on(b.open())).map_err(err)?;
        Ok(Engine {
            rt: Some(rt),
            core: std::sync::Mutex::new(Some(Arc::new(core))),
        })
    }

    /// Creates a state machine from its definition (a `dict` or JSON text)
    /// and returns its ARN. An invalid definition raises `AslanError` with
    /// every problem and its location.
    fn create_state_machine(&self, py: Python<'_>, name: &str, definition: &Bound<'_, PyAny>) -> PyResult<String> {
        let text = match definition.cast::<PyString>() {
            Ok(s) => s.to_string(),
            Err(_) => dumps(definition)?.to_string(),
        };
        let core = self.core()?;
        let rec = py
            .detach(|| self.rt().block_on(core.create_state_machine(name, &text)))
            .map_err(err)?;
        Ok(rec.arn)
    }

    /// Starts an execution of a state machine (name or ARN) and returns its
    /// ARN once its first step is durable.
    #[pyo3(signature = (machine, input=None, name=None))]
    fn start_execution(
        &self,
        py: Python<'_>,
        machine: &str,
        input: Option<&Bound<'_, PyAny>>,
        name: Option<&str>,
    ) -> PyResult<String> {
        let input = match input {
            Some(i) => dumps(i)?,
            None => Value::Object(Default::default()),
        };
        let core = self.core()?;
        let rec = py
            .detach(|| self.rt().block_on(core.start_execution(machine, name, &input)))
            .map_err(err)?;
        Ok(rec.arn)
    }

    /// The execution as a `dict` (see `wait`).
    fn describe_execution<'py>(&self, py: Python<'py>, arn: &str) -> PyResult<Bound<'py, PyDict>> {
        let rec = self.core()?.describe_execution(arn).map_err(err)?;
        record(py, &rec)
    }

    /// Waits until the execution ends (at most `timeout` seconds, if given:
    /// then `TimeoutError`) and returns it as a `dict`: `status`
    /// (`SUCCEEDED`, `FAILED`, ...), `output`, `error`, `cause`, ...
    #[pyo3(signature = (arn, timeout=None))]
    fn wait<'py>(&self, py: Python<'py>, arn: &str, timeout: Option<f64>) -> PyResult<Bound<'py, PyDict>> {
        let core = self.core()?;
        let rec = py.detach(|| {
            self.rt().block_on(async {
                match timeout {
                    Some(s) => tokio::time::timeout(secs(s), core.wait_for_execution(arn))
                        .await
                        .map_err(|_| pyo3::exceptions::PyTimeoutError::new_err(format!("{arn} still runs"))),
                    None => Ok(core.wait_for_execution(arn).await),
                }
            })
        })?;
        record(py, &rec.map_err(err)?)
    }

    /// Stops a running execution (ABORTED).
    #[pyo3(signature = (arn, error=None, cause=None))]
    fn stop_execution<'py>(
        &self,
        py: Python<'py>,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let core = self.core()?;
        let rec = py
            .detach(|| self.rt().block_on(core.stop_execution(arn, error, cause)))
            .map_err(err)?;
        record(py, &rec)
    }

    /// SendTaskSuccess: completes the task that handed out `token` with
    /// `output` (anything `json.dumps` accepts).
    fn send_task_success(&self, py: Python<'_>, token: &str, output: &Bound<'_, PyAny>) -> PyResult<()> {
        let output = dumps(output)?.to_string();
        self.answer(py, token, TaskAnswer::Success(output))
    }

    /// SendTaskFailure: fails the task that handed out `token`.
    #[pyo3(signature = (token, error=None, cause=None))]
    fn send_task_failure(
        &self,
        py: Python<'_>,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> PyResult<()> {
        self.answer(py, token, TaskAnswer::Failure { error, cause })
    }

    /// The execution's history events, as GetExecutionHistory returns them.
    fn history<'py>(&self, py: Python<'py>, arn: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let events = self.core()?.history(arn).map_err(err)?;
        events.iter().map(|e| loads(py, &e.to_string())).collect()
    }

    /// The history events of every execution from now on, as they commit:
    /// an iterator of `{"executionArn": ..., "event": {...}}`.
    fn events(&self) -> PyResult<Events> {
        Ok(Events {
            state: tokio::sync::Mutex::new(Stream {
                rx: self.core()?.subscribe(),
                buffered: VecDeque::new(),
            }),
            handle: self.rt().handle().clone(),
        })
    }

    /// Finishes the current commit and releases the folder. Running
    /// executions stay in it; the next `Engine` on the folder resumes them.
    fn close(&self, py: Python<'_>) {
        let core = self.core.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(core) = core {
            let rt = self.rt();
            // Dropped without the GIL too: the last reference closes the
            // store (a final flush).
            py.detach(move || {
                rt.block_on(core.executor().shutdown());
                drop(core);
            });
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }
}

/// History events as they commit (from `Engine.events()`).
#[pyclass(module = "aslan")]
struct Events {
    /// Locked only with the GIL released, so a second Python thread that
    /// waits for it cannot hold the GIL the first one needs.
    state: tokio::sync::Mutex<Stream>,
    handle: tokio::runtime::Handle,
}

struct Stream {
    rx: broadcast::Receiver<CommittedEvents>,
    buffered: VecDeque<(Arc<str>, Value)>,
}

impl Events {
    /// The next event, waiting at most `timeout` (forever when `None`);
    /// `None` when the time ran out or the engine closed.
    fn next_event<'py>(&self, py: Python<'py>, timeout: Option<Duration>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let got = py.detach(|| {
            self.handle.block_on(async {
                // The timeout covers waiting for another reader too.
                let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
                let mut s = match deadline {
                    Some(d) => match tokio::time::timeout_at(d, self.state.lock()).await {
                        Ok(s) => s,
                        Err(_) => return Ok(None),
                    },
                    None => self.state.lock().await,
                };
                while s.buffered.is_empty() {
                    let received = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, s.rx.recv()).await {
                            Ok(r) => r,
                            Err(_) => return Ok(None),
                        },
                        None => s.rx.recv().await,
                    };
                    match received {
                        Ok(c) => {
                            for e in c.events.iter() {
                                s.buffered.push_back((c.execution_arn.clone(), e.to_json()));
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => return Ok(None),
                        Err(broadcast::error::RecvError::Lagged(n)) => return Err(n),
                    }
                }
                Ok(s.buffered.pop_front())
            })
        });
        let (arn, event) = match got {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(None),
            Err(n) => {
                return Err(AslanError::new_err(format!(
                    "fell {n} steps behind the engine: their events are in each execution's history"
                )))
            }
        };
        let d = PyDict::new(py);
        d.set_item("executionArn", &*arn)?;
        d.set_item("event", loads(py, &event.to_string())?)?;
        Ok(Some(d))
    }
}

#[pymethods]
impl Events {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.next_event(py, None)
    }

    /// The next event, or `None` after `timeout` seconds without one.
    #[pyo3(signature = (timeout))]
    fn next<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.next_event(py, Some(secs(timeout)))
    }
}

/// The module: `aslan.Engine`, `aslan.AslanError`.
#[pymodule]
fn aslan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Events>()?;
    m.add("AslanError", m.py().get_type::<AslanError>())?;
    Ok(())
}
