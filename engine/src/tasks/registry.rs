//! Routing Task resources to integrations.

use super::catalog::Catalog;
use super::mock::{MockConfig, MockTasks};
use super::{unsupported, CancelFuture, Integration, Outcome, Pattern, PollHook, Resource, Task, TaskFuture};
use crate::asl::diag::{esc, Diagnostic};
use crate::asl::{Machine, StateError};
use serde_json::Value;
use std::sync::Arc;

enum Mock {
    /// A server's MockConfigFile: each execution picks its test case.
    Config(MockConfig),
    /// One test case for every execution (`aslan run --test-case`).
    Tasks(MockTasks),
}

/// Maps resources to the integrations that serve them; see the module
/// documentation of [`crate::tasks`].
pub struct Registry {
    integrations: Vec<Arc<dyn Integration>>,
    mock: Option<Mock>,
    hook: Option<Arc<dyn PollHook>>,
    #[cfg(feature = "wasm")]
    wasm: Option<Arc<crate::wasm::WasmHost>>,
    durable: Arc<std::sync::OnceLock<Arc<dyn super::workflow::Durable>>>,
}

/// The key under which a poll state holds a [`PollHook`]'s state next to
/// the integration's.
const HOOK_STATE: &str = "aslan:poller";

/// The integration's state and the hook's, from a stored poll state.
fn split_state(state: Value) -> (Value, Option<Value>) {
    match state {
        Value::Object(mut o) if o.len() == 1 && o.contains_key(HOOK_STATE) => {
            let mut inner = o.remove(HOOK_STATE).unwrap_or(Value::Null);
            let started = inner.get_mut("started").map(Value::take).unwrap_or(Value::Null);
            let hook = inner.get_mut("state").map(Value::take);
            (started, hook)
        }
        other => (other, None),
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with no integrations: Task states fail with
    /// `States.Runtime` naming their resource, except `.waitForTaskToken`
    /// ones, which park until SendTaskSuccess/SendTaskFailure.
    pub fn new() -> Registry {
        Registry {
            integrations: Vec::new(),
            mock: None,
            hook: None,
            #[cfg(feature = "wasm")]
            wasm: None,
            durable: Arc::default(),
        }
    }

    /// A registry with the integrations built into this build of the
    /// engine (Kubernetes: `eks:call`, `eks:runJob`; EKS: `eks:createCluster`
    /// ... `eks:deleteFargateProfile`), configured by `cfg`.
    pub fn builtin(cfg: &crate::config::EngineConfig) -> Registry {
        #[cfg_attr(not(any(feature = "kubernetes", feature = "s3")), allow(unused_mut))]
        let mut r = Registry::new();
        #[cfg(feature = "kubernetes")]
        r.register(Arc::new(super::kubernetes::Kubernetes::new(cfg)));
        #[cfg(feature = "eks")]
        r.register(Arc::new(super::eks::Eks::new()));
        #[cfg(feature = "s3")]
        r.register(Arc::new(super::s3::S3Reader::new()));
        #[cfg(not(feature = "kubernetes"))]
        let _ = cfg;
        r
    }

    /// Adds an integration; earlier ones win when two serve a resource.
    pub fn register(&mut self, i: Arc<dyn Integration>) -> &mut Self {
        self.integrations.push(i);
        self
    }

    /// Sends the polls of the tasks `hook` is attached to there.
    pub fn with_poll_hook(mut self, hook: Arc<dyn PollHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Serves `arn:aslan:states:::wasm:NAME` (task modules) and
    /// `arn:aslan:states:::workflow:NAME` (code workflows) from `host`'s
    /// modules and attaches the configured `pollers`.
    #[cfg(feature = "wasm")]
    pub fn with_wasm(mut self, host: Arc<crate::wasm::WasmHost>, pollers: &[crate::wasm::PollerConfig]) -> Self {
        self.register(Arc::new(crate::wasm::tasks::WasmTasks::new(host.clone())));
        self.register(Arc::new(crate::wasm::workflow::Workflows::new(
            host.clone(),
            self.durable.clone(),
        )));
        self.hook = Some(Arc::new(crate::wasm::poller::Pollers::new(host.clone(), pollers)));
        self.wasm = Some(host);
        self
    }

    /// Binds the executor's journal and child executions for code
    /// workflows (the durable executor does it when it starts); `false`
    /// when another executor bound them first.
    pub fn bind_durable(&self, d: Arc<dyn super::workflow::Durable>) -> bool {
        self.durable.set(d).is_ok()
    }

    /// The slot [`bind_durable`](Registry::bind_durable) fills, shared with
    /// the code-workflow integration.
    pub fn durable_slot(&self) -> Arc<std::sync::OnceLock<Arc<dyn super::workflow::Durable>>> {
        self.durable.clone()
    }

    /// The WebAssembly host, when [`with_wasm`](Registry::with_wasm) gave one.
    #[cfg(feature = "wasm")]
    pub fn wasm(&self) -> Option<&Arc<crate::wasm::WasmHost>> {
        self.wasm.as_ref()
    }

    /// Answers Task states from a MockConfigFile first, by each execution's
    /// test case (executions without one are not mocked).
    pub fn with_mock_config(mut self, m: MockConfig) -> Self {
        self.mock = Some(Mock::Config(m));
        self
    }

    /// Answers Task states from one test case first, for every execution.
    pub fn with_mock_tasks(mut self, m: MockTasks) -> Self {
        self.mock = Some(Mock::Tasks(m));
        self
    }

    /// The mock config, if any (the server checks test cases with it).
    pub fn mock_config(&self) -> Option<&MockConfig> {
        match &self.mock {
            Some(Mock::Config(m)) => Some(m),
            _ => None,
        }
    }

    /// The integration serving `r` and the patterns it supports there.
    pub fn route(&self, r: &Resource) -> Option<(&Arc<dyn Integration>, &'static [Pattern])> {
        self.integrations.iter().find_map(|i| i.patterns(r).map(|p| (i, p)))
    }

    /// Compiles a definition's text and checks its Task resources against
    /// these integrations: the machine, or every problem (the ASL ones
    /// first; the resources are checked only when the ASL is valid).
    pub fn compile(&self, definition: &str) -> Result<Machine, Vec<Diagnostic>> {
        let def: Value = match serde_json::from_str(definition) {
            Ok(v) => v,
            // Not JSON: `from_json` words the problem.
            Err(_) => return Machine::from_json(definition).map_err(|e| e.0),
        };
        let machine = Machine::compile(&def).map_err(|e| e.0)?;
        let problems = self.validate(&def);
        if problems.is_empty() {
            Ok(machine)
        } else {
            Err(problems)
        }
    }

    /// Problems with a definition's Task resources: a pattern its
    /// integration (or, for AWS services Aslan does not run, AWS) does not
    /// support. Walks Parallel branches and Map processors; locations are
    /// JSON pointers to each `Resource`.
    pub fn validate(&self, definition: &Value) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.walk(definition, "", &mut out, 0);
        out
    }

    fn walk(&self, scope: &Value, at: &str, out: &mut Vec<Diagnostic>, depth: usize) {
        let Some(states) = scope.get("States").and_then(Value::as_object) else {
            return;
        };
        if depth > 64 {
            return; // the definition's own validation reports the nesting
        }
        for (name, st) in states {
            let here = format!("{at}/States/{}", esc(name));
            match st.get("Type").and_then(Value::as_str) {
                Some("Task") => {
                    if let Some(res) = st.get("Resource").and_then(Value::as_str) {
                        if let Some(d) = self.check(res, &format!("{here}/Resource")) {
                            out.push(d);
                        }
                        if let Some(params) = st.get("Parameters") {
                            self.check_parameters(res, params, &format!("{here}/Parameters"), out);
                        }
                    }
                }
                Some("Parallel") => {
                    for (i, b) in st
                        .get("Branches")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        self.walk(b, &format!("{here}/Branches/{i}"), out, depth + 1);
                    }
                }
                Some("Map") => {
                    for key in ["ItemProcessor", "Iterator"] {
                        if let Some(p) = st.get(key) {
                            self.walk(p, &format!("{here}/{key}"), out, depth + 1);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn check(&self, resource: &str, at: &str) -> Option<Diagnostic> {
        let r = Resource::parse(resource);
        if r.pattern() == Pattern::Activity {
            return None;
        }
        let supported = match self.route(&r) {
            Some((_, p)) => p,
            None => Catalog.patterns(&r)?,
        };
        if supported.contains(&r.pattern()) {
            return None;
        }
        let list: Vec<String> = supported.iter().map(|p| p.to_string()).collect();
        Some(Diagnostic {
            location: at.to_string(),
            code: "SCHEMA_VALIDATION_FAILED",
            message: format!(
                "The resource provided {resource} is not recognized: '{}' does not support the {} pattern (it supports: {})",
                r.operation(),
                r.pattern(),
                list.join(", ")
            ),
        })
    }

    fn check_parameters(&self, resource: &str, params: &Value, at: &str, out: &mut Vec<Diagnostic>) {
        let r = Resource::parse(resource);
        if let Some((i, _)) = self.route(&r) {
            for message in i.validate_parameters(&r, params) {
                out.push(Diagnostic {
                    location: at.to_string(),
                    code: "SCHEMA_VALIDATION_FAILED",
                    message,
                });
            }
        }
    }

    fn mocked(&self, task: &Task) -> Option<Result<Value, StateError>> {
        match self.mock.as_ref()? {
            Mock::Tasks(m) => m.respond(&task.invocation),
            Mock::Config(m) => {
                let case = task.ctx.test_case.as_deref()?;
                // A Distributed Map's children run `MACHINE/LABEL`: they
                // use their machine's test cases.
                let sm = task.ctx.state_machine_name.split('/').next().unwrap_or_default();
                match m.test_case(sm, case) {
                    Ok(m) => m.respond(&task.invocation),
                    Err(e) => Some(Err(StateError::runtime(e.to_string()))),
                }
            }
        }
    }

    /// Starts an invocation: a mocked response if there is one (for
    /// `.waitForTaskToken` it is the callback's result, as in Step Functions
    /// Local), else the integration; with `.waitForTaskToken` the
    /// integration's success means "token handed out" and the task parks,
    /// and a resource no integration serves parks at once (the token is in
    /// the parameters the history shows; SendTaskSuccess completes it).
    pub fn start(&self, task: Task) -> TaskFuture {
        if let Some(r) = self.mocked(&task) {
            return Box::pin(std::future::ready(match r {
                Ok(v) => Outcome::Succeeded(v),
                Err(e) => Outcome::Failed(e),
            }));
        }
        let wait = task.resource.pattern() == Pattern::WaitForTaskToken;
        match self.route(&task.resource) {
            Some((i, _)) if wait => {
                let fut = i.start(task);
                Box::pin(async move {
                    match fut.await {
                        Outcome::Succeeded(_) => Outcome::Parked,
                        other => other,
                    }
                })
            }
            Some((i, _)) => i.start(task),
            None if wait => Box::pin(std::future::ready(Outcome::Parked)),
            None => Box::pin(std::future::ready(Outcome::Failed(unsupported(&task.invocation)))),
        }
    }

    /// Polls a started invocation: through the [`PollHook`] attached to it,
    /// if any, else its integration.
    pub fn poll(&self, task: Task, state: Value) -> TaskFuture {
        if let Some(hook) = self.hook.as_ref().filter(|h| h.attached(&task)) {
            let (inner, hook_state) = split_state(state);
            let started = match self.route(&task.resource) {
                Some((i, _)) => i.started_view(&task.resource, &inner),
                None => inner.clone(),
            };
            let request = serde_json::json!({
                "Resource": task.resource.arn(),
                "Parameters": task.invocation.parameters,
                "Started": started,
            });
            let fut = hook.poll(task, request, hook_state);
            return Box::pin(async move {
                match fut.await {
                    Outcome::Poll { after_ms, state } => Outcome::Poll {
                        after_ms,
                        state: {
                            let mut o = serde_json::Map::new();
                            o.insert(
                                HOOK_STATE.into(),
                                serde_json::json!({ "started": inner, "state": state }),
                            );
                            Value::Object(o)
                        },
                    },
                    other => other,
                }
            });
        }
        match self.route(&task.resource) {
            Some((i, _)) => i.poll(task, state),
            None => Box::pin(std::future::ready(Outcome::Failed(unsupported(&task.invocation)))),
        }
    }

    /// Cancels a started invocation.
    pub fn cancel(&self, task: Task, state: Option<Value>) -> CancelFuture {
        let state = state.map(|s| split_state(s).0);
        match self.route(&task.resource) {
            Some((i, _)) => i.cancel(task, state),
            None => Box::pin(std::future::ready(())),
        }
    }
}
