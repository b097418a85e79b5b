//! The wasmtime host: one engine, the registered modules, and the calls.

use super::bindings::poller::{Poller, PollerPre};
use super::bindings::task::{Task as TaskWorld, TaskPre};
use super::bindings::types::{Context, Decision};
use super::bindings::workflow::{Workflow, WorkflowPre};
use super::cache::{self, Source};
use super::caps::Denied;
use super::store::{DeadlineExceeded, GuestData, LimitExceeded, Limits};
use super::{ModuleConfig, Services, DEADLINE_EXCEEDED, DENIED, RESOURCE_LIMIT_EXCEEDED, TRAP};
use crate::asl::StateError;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

/// How often the epoch ticks: the granularity of deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The longest one guest call may last in wall time, host calls included
/// (a guest that keeps calling the host never reaches its deadline of
/// guest time).
pub const MAX_CALL_WALL: Duration = Duration::from_secs(900);

/// Host-wide settings (`[wasm]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSettings {
    /// Use wasmtime's pooling allocator (default true; falls back to
    /// on-demand allocation when the machine cannot reserve the pool).
    #[serde(default = "yes")]
    pub pooling: bool,
    /// Where compiled components are cached (default
    /// [`cache::default_dir`]).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Guest calls that may run at once (default 64); more wait.
    #[serde(default = "default_concurrency")]
    pub max_concurrent: usize,
}

fn yes() -> bool {
    true
}

fn default_concurrency() -> usize {
    64
}

impl Default for WasmSettings {
    fn default() -> Self {
        WasmSettings {
            pooling: true,
            cache_dir: None,
            max_concurrent: default_concurrency(),
        }
    }
}

/// What a module exports.
pub enum Kind {
    /// World `task`.
    Task(TaskPre<GuestData>),
    /// World `poller`.
    Poller(PollerPre<GuestData>),
    /// World `workflow`.
    Workflow(WorkflowPre<GuestData>),
}

/// A registered module.
pub struct WasmModule {
    /// Its name (`arn:aslan:states:::wasm:NAME`).
    pub name: String,
    /// The hex SHA-256 of its `.wasm`.
    pub sha256: String,
    /// The size of its `.wasm` in bytes.
    pub size: usize,
    /// How it runs.
    pub config: ModuleConfig,
    /// Whether it was compiled now or came from the cache.
    pub source: Source,
    /// Its world.
    pub kind: Kind,
    caps: Arc<super::Capabilities>,
}

impl WasmModule {
    /// `task`, `poller` or `workflow`.
    pub fn world(&self) -> &'static str {
        match self.kind {
            Kind::Task(_) => "task",
            Kind::Poller(_) => "poller",
            Kind::Workflow(_) => "workflow",
        }
    }
}

/// A module that could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// Not a component, or not one of our worlds, or it imports what the
    /// host does not provide.
    #[error("module {name}: {message}")]
    Invalid {
        /// The module.
        name: String,
        /// Why.
        message: String,
    },
}

/// The wasmtime host; see the [module documentation](super).
pub struct WasmHost {
    engine: Engine,
    linker: Linker<GuestData>,
    services: Arc<Services>,
    modules: RwLock<BTreeMap<String, Arc<WasmModule>>>,
    cache_dir: Option<PathBuf>,
    permits: Arc<tokio::sync::Semaphore>,
    rt: Option<tokio::runtime::Runtime>,
    pooling: bool,
}

impl Drop for WasmHost {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn pooling_config() -> PoolingAllocationConfig {
    let mut p = PoolingAllocationConfig::default();
    p.total_component_instances(256)
        .total_core_instances(2048)
        .total_memories(512)
        .total_tables(1024)
        .total_stacks(256)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        // Reset the first pages of a slot with memset rather than giving
        // them back to the kernel: a small guest (a poller) then reuses a
        // slot without page faults, and decommits are batched (each one is
        // an madvise and a TLB shootdown).
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(128 << 10)
        .decommit_batch_size(32)
        .pagemap_scan(wasmtime::Enabled::Auto);
    p
}

fn engine(pooling: bool) -> wasmtime::Result<(Engine, bool)> {
    let mut c = Config::new();
    c.epoch_interruption(true);
    if pooling {
        let mut pc = c.clone();
        pc.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config()));
        match Engine::new(&pc) {
            Ok(e) => return Ok((e, true)),
            Err(e) => tracing::warn!("the pooling allocator is not available, allocating on demand: {e}"),
        }
    }
    Ok((Engine::new(&c)?, false))
}

fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("aslan-wasm-epoch".into())
        .spawn(move || {
            while let Some(e) = weak.upgrade() {
                e.increment_epoch();
                drop(e);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// `s` cut to at most `max` bytes (on a character boundary), with " ..."
/// after a cut.
pub(super) fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(" ...");
    }
    s
}

/// The state error for a failed guest call.
pub fn classify(e: &wasmtime::Error, output: &str) -> StateError {
    let with_output = |mut cause: String| {
        if !output.is_empty() {
            cause.push_str("\nguest output:\n");
            cause.push_str(output);
        }
        clip(cause, 8 * 1024)
    };
    if let Some(d) = e.downcast_ref::<Denied>() {
        return StateError::new(DENIED, d.0.clone());
    }
    if let Some(d) = e.downcast_ref::<DeadlineExceeded>() {
        return StateError::new(DEADLINE_EXCEEDED, with_output(d.to_string()));
    }
    if let Some(l) = e.downcast_ref::<LimitExceeded>() {
        return StateError::new(RESOURCE_LIMIT_EXCEEDED, with_output(l.0.clone()));
    }
    // The trap first, then what wraps it (the wasm backtrace), but not the
    // host's backtrace (which `{:?}` adds under RUST_BACKTRACE).
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let cause = parts.into_iter().rev().collect::<Vec<_>>().join("\n");
    StateError::new(TRAP, with_output(cause))
}

/// Who called, for contexts and logs.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The execution's region.
    pub region: String,
    /// `EXECUTION_ARN STATE` for log lines.
    pub origin: String,
}

impl WasmHost {
    /// A host whose guests reach `services`.
    pub fn new(settings: &WasmSettings, services: Services) -> wasmtime::Result<WasmHost> {
        let (engine, pooling) = engine(settings.pooling)?;
        spawn_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        TaskWorld::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?;
        super::bindings::durable::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aslan-wasm")
            .enable_all()
            .build()?;
        Ok(WasmHost {
            engine,
            linker,
            services: Arc::new(services),
            modules: RwLock::new(BTreeMap::new()),
            cache_dir: settings.cache_dir.clone().or_else(cache::default_dir),
            permits: Arc::new(tokio::sync::Semaphore::new(settings.max_concurrent.max(1))),
            rt: Some(rt),
            pooling,
        })
    }

    /// The runtime guests run on. Calls made from a task on it run there
    /// directly; calls from elsewhere hop to it.
    pub fn guest_runtime(&self) -> tokio::runtime::Handle {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the host")
            .handle()
            .clone()
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles (or loads from the cache) and registers `bytes` as `name`,
    /// replacing a module of that name. Compiling a large component takes
    /// seconds: call this off the executor (`spawn_blocking`).
    pub fn add_module(&self, name: &str, bytes: &[u8], config: ModuleConfig) -> Result<Arc<WasmModule>, ModuleError> {
        let invalid = |message: String| ModuleError::Invalid {
            name: name.to_string(),
            message,
        };
        if !valid_name(name) {
            return Err(invalid(
                "a module name is 1 to 80 characters of letters, digits, '-' and '_'".into(),
            ));
        }
        let sha = cache::digest(bytes);
        let (component, source) = cache::load(&self.engine, bytes, &sha, self.cache_dir.as_deref())
            .map_err(|e| invalid(format!("not a WebAssembly component wasmtime can compile: {e:#}")))?;
        let kind = self.kind(&component).map_err(invalid)?;
        let m = Arc::new(WasmModule {
            name: name.to_string(),
            sha256: sha,
            size: bytes.len(),
            caps: Arc::new(config.allow.clone()),
            config,
            source,
            kind,
        });
        self.modules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), m.clone());
        Ok(m)
    }

    fn kind(&self, component: &Component) -> Result<Kind, String> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&self.engine).map(|(n, _)| n.to_string()).collect();
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| format!("it imports something the host does not provide: {e:#}"))?;
        if exports.iter().any(|e| e == WORKFLOW_EXPORT) {
            // Its only state is what its journal rebuilds.
            if ty.imports(&self.engine).any(|(n, _)| n.starts_with("aslan:host/state")) {
                return Err(
                    "a code workflow (world aslan:host/workflow) may not import aslan:host/state: it is not journaled"
                        .into(),
                );
            }
            WorkflowPre::new(pre).map(Kind::Workflow).map_err(|e| {
                format!("it exports {WORKFLOW_EXPORT} but not as the world aslan:host/workflow has it: {e:#}")
            })
        } else if exports.iter().any(|e| e == "run") {
            TaskPre::new(pre)
                .map(Kind::Task)
                .map_err(|e| format!("it exports `run` but not as the world aslan:host/task has it: {e:#}"))
        } else if exports.iter().any(|e| e == "decide") {
            PollerPre::new(pre)
                .map(Kind::Poller)
                .map_err(|e| format!("it exports `decide` but not as the world aslan:host/poller has it: {e:#}"))
        } else {
            Err(format!(
                "it exports neither `run` (world aslan:host/task), `decide` (world aslan:host/poller) nor {WORKFLOW_EXPORT} (world aslan:host/workflow), but {exports:?}"
            ))
        }
    }

    /// Removes a module; whether it was there.
    pub fn remove_module(&self, name: &str) -> bool {
        self.modules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .is_some()
    }

    /// The module registered as `name`.
    pub fn module(&self, name: &str) -> Option<Arc<WasmModule>> {
        self.modules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every registered module, by name.
    pub fn modules(&self) -> Vec<Arc<WasmModule>> {
        self.modules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn store(&self, m: &WasmModule, caller: &Caller) -> Store<GuestData> {
        let data = GuestData::new(
            m.name.as_str().into(),
            m.caps.clone(),
            self.services.clone(),
            caller.region.clone(),
            caller.origin.clone(),
            Limits {
                memory_bytes: m.config.memory_bytes(),
                table_elements: 1 << 20,
            },
            m.config.deadline(),
        );
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let d = cx.data_mut();
            if d.tick() > d.deadline {
                return Err(DeadlineExceeded(d.deadline).into());
            }
            // Let other guests run; the slice after the yield starts when
            // this guest runs again.
            let resumed = d.resume_handle();
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    *resumed.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
                }),
            ))
        });
        store
    }

    /// Runs `fut` on the guests' runtime, at most `max_concurrent` at once.
    async fn spawn<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, StateError> {
        let permits = self.permits.clone();
        let rt = self.rt.as_ref().expect("the runtime lives as long as the host");
        if tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == rt.handle().id()) {
            // Already on the guests' runtime: no hop to another thread.
            let _permit = permits.acquire_owned().await;
            return tokio::time::timeout(MAX_CALL_WALL, fut).await.map_err(|_| too_long());
        }
        // A caller that gives up (a stopped execution's task) stops the
        // guest too.
        let mut handle = AbortOnDrop(rt.spawn(async move {
            let _permit = permits.acquire_owned().await;
            tokio::time::timeout(MAX_CALL_WALL, fut).await
        }));
        match (&mut handle.0).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(too_long()),
            Err(e) => Err(StateError::new(TRAP, format!("the guest call did not finish: {e}"))),
        }
    }

    /// Runs a `task` module with `input` (JSON text).
    pub async fn run_task(&self, m: &Arc<WasmModule>, caller: &Caller, input: String) -> Result<String, StateError> {
        let Kind::Task(pre) = &m.kind else {
            return Err(StateError::runtime(format!(
                "module {} is a {} (world aslan:host/{}), not a task",
                m.name,
                m.world(),
                m.world()
            )));
        };
        let (pre, mut store, module) = (pre.clone(), self.store(m, caller), m.name.clone());
        let r = self
            .spawn(async move {
                store.data_mut().start_clock();
                let r = async {
                    let inst = pre.instantiate_async(&mut store).await?;
                    inst.call_run(&mut store, &input).await
                }
                .await;
                (r, store.into_data().output.text())
            })
            .await?;
        let (r, output) = r;
        log_output(&module, &caller.origin, &output);
        match r {
            Ok(Ok(out)) => check_json(&module, out),
            Ok(Err(e)) => Err(StateError::new(e.error, e.cause)),
            Err(e) => Err(classify(&e, &output)),
        }
    }

    /// Runs one activation of a `workflow` module: `run` from the start,
    /// with `replay` answering its host calls. Gives back the guest's
    /// result (or the trap: [`Suspend`](super::journal::Suspend) when it
    /// waits) and the replay as it ended.
    pub async fn run_workflow(
        &self,
        m: &Arc<WasmModule>,
        caller: &Caller,
        input: String,
        replay: Box<super::journal::Replay>,
    ) -> Result<
        (
            wasmtime::Result<Result<String, super::bindings::types::TaskError>>,
            String,
        ),
        StateError,
    > {
        let Kind::Workflow(pre) = &m.kind else {
            return Err(StateError::runtime(format!(
                "module {} is a {} (world aslan:host/{}), not a workflow",
                m.name,
                m.world(),
                m.world()
            )));
        };
        let (pre, mut store, module) = (pre.clone(), self.store(m, caller), m.name.clone());
        store.data_mut().journal = Some(replay);
        let (r, output) = self
            .spawn(async move {
                store.data_mut().start_clock();
                let r = async {
                    let inst: Workflow = pre.instantiate_async(&mut store).await?;
                    inst.aslan_host_entry().call_run(&mut store, &input).await
                }
                .await;
                let data = store.into_data();
                // The journal must also hold up at the end of the run.
                // A guest that returns (its output or its error) while
                // entries are left has diverged.
                let r = match (r, &data.journal) {
                    (Ok(done), Some(j)) => match j.finish() {
                        Ok(()) => Ok(done),
                        Err(e) => Err(e.into()),
                    },
                    (r, _) => r,
                };
                (r, data.output.text())
            })
            .await?;
        log_output(&module, &caller.origin, &output);
        Ok((r, output))
    }

    /// Runs one poll of a `poller` module.
    pub async fn poll(
        &self,
        m: &Arc<WasmModule>,
        caller: &Caller,
        ctx: Context,
        request: String,
        state: Option<String>,
    ) -> Result<Decision, StateError> {
        let Kind::Poller(pre) = &m.kind else {
            return Err(StateError::runtime(format!(
                "module {} is a {} (world aslan:host/{}), not a poller",
                m.name,
                m.world(),
                m.world()
            )));
        };
        let (pre, mut store, module) = (pre.clone(), self.store(m, caller), m.name.clone());
        let r = self
            .spawn(async move {
                store.data_mut().start_clock();
                let r = async {
                    let inst: Poller = pre.instantiate_async(&mut store).await?;
                    inst.call_decide(&mut store, &ctx, &request, state.as_ref()).await
                }
                .await;
                (r, store.into_data().output.text())
            })
            .await?;
        let (r, output) = r;
        log_output(&module, &caller.origin, &output);
        r.map_err(|e| classify(&e, &output))
    }
}

/// The export of a code workflow (world `workflow`).
pub const WORKFLOW_EXPORT: &str = "aslan:host/entry@0.1.0";

/// Aborts a spawned guest call when its caller drops it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A call that outlasted [`MAX_CALL_WALL`].
fn too_long() -> StateError {
    StateError::new(
        DEADLINE_EXCEEDED,
        format!("the guest call lasted more than {MAX_CALL_WALL:?}, host calls included"),
    )
}

fn log_output(module: &str, origin: &str, output: &str) {
    if !output.is_empty() {
        tracing::info!(target: "aslan::guest", module, origin, "guest output:\n{output}");
    }
}

fn check_json(module: &str, out: String) -> Result<String, StateError> {
    match serde_json::from_str::<serde_json::Value>(&out) {
        Ok(_) => Ok(out),
        Err(e) => Err(StateError::runtime(format!(
            "module {module} returned output that is not JSON: {e}"
        ))),
    }
}

/// Module names: 1 to 80 of `[A-Za-z0-9_-]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
