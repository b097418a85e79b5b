//! Routing Task resources to integrations.

use super::catalog::Catalog;
use super::mock::{MockConfig, MockTasks};
use super::{unsupported, CancelFuture, Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use crate::asl::diag::{esc, Diagnostic};
use crate::asl::StateError;
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
        }
    }

    /// A registry with the integrations built into this build of the
    /// engine (Kubernetes: `eks:call`, `eks:runJob`; EKS: `eks:createCluster`
    /// ... `eks:deleteFargateProfile`), configured by `cfg`.
    pub fn builtin(cfg: &crate::config::EngineConfig) -> Registry {
        let mut r = Registry::new();
        #[cfg(feature = "kubernetes")]
        r.register(Arc::new(super::kubernetes::Kubernetes::new(cfg)));
        #[cfg(feature = "eks")]
        r.register(Arc::new(super::eks::Eks::new()));
        #[cfg(not(feature = "kubernetes"))]
        let _ = cfg;
        r
    }

    /// Adds an integration; earlier ones win when two serve a resource.
    pub fn register(&mut self, i: Arc<dyn Integration>) -> &mut Self {
        self.integrations.push(i);
        self
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
                match m.test_case(&task.ctx.state_machine_name, case) {
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

    /// Polls a started invocation.
    pub fn poll(&self, task: Task, state: Value) -> TaskFuture {
        match self.route(&task.resource) {
            Some((i, _)) => i.poll(task, state),
            None => Box::pin(std::future::ready(Outcome::Failed(unsupported(&task.invocation)))),
        }
    }

    /// Cancels a started invocation.
    pub fn cancel(&self, task: Task, state: Option<Value>) -> CancelFuture {
        match self.route(&task.resource) {
            Some((i, _)) => i.cancel(task, state),
            None => Box::pin(std::future::ready(())),
        }
    }
}
