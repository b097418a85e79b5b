//! WebAssembly guests on wasmtime's component model.
//!
//! The contract is the WIT package in `wit/` (`aslan:host@0.1.0`). Two
//! kinds of guest run here:
//!
//! - **Tasks** (world `task`): `"Resource": "arn:aslan:states:::wasm:NAME"`
//!   runs the module registered as NAME with the Task's effective input
//!   ([`tasks`]).
//! - **Pollers** (world `poller`): custom polling logic for a `.sync` task,
//!   attached to a state by the engine configuration ([`poller`]).
//! - **Code workflows** (world `workflow`): a whole durable workflow,
//!   `"Resource": "arn:aslan:states:::workflow:NAME"`, made durable by
//!   journaling every host call and replaying the journal ([`workflow`],
//!   [`journal`]).
//!
//! [`WasmHost`] owns one wasmtime `Engine` (with the pooling allocator when
//! the machine allows it, else on-demand), the modules (compiled once,
//! cached on disk by content hash ([`cache`]), instantiated from an
//! `InstancePre`), an epoch ticker thread, and a multi-thread tokio runtime
//! of its own on which guests run, so a busy guest never stalls the
//! executor. Every call gets a fresh `Store` with:
//!
//! - a deadline of guest time (default 1 s per call; time in host calls
//!   does not count), enforced with epochs: `Wasm.DeadlineExceeded`;
//! - memory and table limits (`ResourceLimiter`, default 64 MiB per
//!   memory): `Wasm.ResourceLimitExceeded`;
//! - the module's allowlist ([`caps`]): `Wasm.Denied`;
//! - WASI 0.2 built on first use, sandboxed: no environment, arguments,
//!   files or sockets; clocks and random allowed; stdout and stderr
//!   captured (64 KiB) and logged.
//!
//! A trap is `Wasm.Trap`. Each of these fails only the Task (Retry and
//! Catch apply); the host and the other executions carry on.

pub mod bindings;
pub mod cache;
pub mod caps;
mod durable;
mod imports;
pub mod journal;
pub mod poller;
pub mod run;
pub mod store;
pub mod tasks;
pub mod workflow;

pub use caps::Capabilities;
pub use run::{WasmHost, WasmModule, WasmSettings};

use crate::tasks::eks::api::EksApi;
use crate::tasks::kubernetes::client::Clients;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A module is missing: `Wasm.ModuleNotFound`.
pub const MODULE_NOT_FOUND: &str = "Wasm.ModuleNotFound";
/// A guest trapped: `Wasm.Trap`.
pub const TRAP: &str = "Wasm.Trap";
/// A guest used up its deadline: `Wasm.DeadlineExceeded`.
pub const DEADLINE_EXCEEDED: &str = "Wasm.DeadlineExceeded";
/// A guest hit its memory or table limit: `Wasm.ResourceLimitExceeded`.
pub const RESOURCE_LIMIT_EXCEEDED: &str = "Wasm.ResourceLimitExceeded";
/// A guest's call was refused by its allowlist: `Wasm.Denied`.
pub const DENIED: &str = "Wasm.Denied";

/// How a module runs (`[modules.NAME]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// The component file (`aslan run --module NAME=PATH` gives it too).
    #[serde(default)]
    pub path: Option<std::path::PathBuf>,
    /// Guest time allowed per call, in milliseconds (default 1,000).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Bytes allowed per linear memory, in MiB (default 64).
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// What the module may touch (default: nothing).
    #[serde(default)]
    pub allow: Capabilities,
}

fn default_deadline_ms() -> u64 {
    1_000
}

fn default_memory_mib() -> u64 {
    64
}

impl Default for ModuleConfig {
    fn default() -> Self {
        ModuleConfig {
            path: None,
            deadline_ms: default_deadline_ms(),
            memory_mib: default_memory_mib(),
            allow: Capabilities::default(),
        }
    }
}

impl ModuleConfig {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.clamp(1, 600_000))
    }

    /// The memory limit in bytes (at most 4 GiB).
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib.clamp(1, 4096) as usize) << 20
    }
}

/// A poller attached to a state (`[[pollers]]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerConfig {
    /// The state machine's name.
    pub state_machine: String,
    /// The `.sync` Task state's name (in any branch or Map of the machine).
    pub state: String,
    /// The registered module (world `poller`).
    pub module: String,
}

/// The durable per-module key-value store behind the `state` interface.
pub trait GuestStateStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, module: &str, key: &str) -> Option<String>;
    /// Stores `value` under `key`.
    fn set(&self, module: &str, key: &str, value: &str) -> Result<(), String>;
    /// Removes `key`.
    fn remove(&self, module: &str, key: &str);
    /// How many keys `module` has.
    fn count(&self, module: &str) -> usize;
}

/// A [`GuestStateStore`] in memory (one `aslan run`).
#[derive(Default)]
pub struct MemoryState(Mutex<HashMap<String, HashMap<String, String>>>);

impl GuestStateStore for MemoryState {
    fn get(&self, module: &str, key: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(module)?
            .get(key)
            .cloned()
    }

    fn set(&self, module: &str, key: &str, value: &str) -> Result<(), String> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(module.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn remove(&self, module: &str, key: &str) {
        if let Some(m) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get_mut(module) {
            m.remove(key);
        }
    }

    fn count(&self, module: &str) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(module)
            .map_or(0, HashMap::len)
    }
}

/// What host functions reach: the Kubernetes clients, the EKS API and the
/// state store (shared with the built-in integrations).
pub struct Services {
    /// Kubernetes clients (the same cache `eks:call` uses).
    pub clients: Arc<Clients>,
    /// The EKS API (the same clients the `eks:` resources use).
    pub eks: Arc<EksApi>,
    /// The `state` interface's store.
    pub state: Arc<dyn GuestStateStore>,
}

impl Services {
    /// The services for `config`'s clusters, with `state` as the store.
    pub fn new(config: &crate::config::EngineConfig, state: Arc<dyn GuestStateStore>) -> Services {
        use crate::tasks::kubernetes::auth::Auth;
        Services {
            clients: Arc::new(Clients::new(Auth::new(config.clusters.clone()))),
            eks: Arc::new(EksApi::default()),
            state,
        }
    }
}

/// A module or the host could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The wasmtime engine could not be made.
    #[error("cannot start the WebAssembly host: {0}")]
    Host(String),
    /// A module file could not be read.
    #[error("cannot read module {name} from {path}: {source}")]
    Read {
        /// The module.
        name: String,
        /// Its file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A module is not a usable component.
    #[error(transparent)]
    Module(#[from] run::ModuleError),
    /// A poller names a module that is not registered, or not a poller.
    #[error("the poller of {state_machine}/{state}: {message}")]
    Poller {
        /// The state machine.
        state_machine: String,
        /// The state.
        state: String,
        /// What is wrong.
        message: String,
    },
}

/// A host for `config`, with the modules the configuration gives a `path`
/// and the `extra` ones (`aslan run --module NAME=PATH`, which win).
pub fn host_with_modules(
    config: &crate::config::EngineConfig,
    extra: &[(String, std::path::PathBuf)],
    state: Arc<dyn GuestStateStore>,
) -> Result<Arc<WasmHost>, SetupError> {
    let host =
        WasmHost::new(&config.wasm, Services::new(config, state)).map_err(|e| SetupError::Host(format!("{e:#}")))?;
    let mut files: std::collections::BTreeMap<String, std::path::PathBuf> = config
        .modules
        .iter()
        .filter_map(|(n, m)| m.path.clone().map(|p| (n.clone(), p)))
        .collect();
    files.extend(extra.iter().cloned());
    for (name, path) in files {
        let bytes = std::fs::read(&path).map_err(|source| SetupError::Read {
            name: name.clone(),
            path: path.clone(),
            source,
        })?;
        let cfg = config.modules.get(&name).cloned().unwrap_or_default();
        host.add_module(&name, &bytes, cfg)?;
    }
    Ok(Arc::new(host))
}

/// The server's guest state lives in its store.
impl GuestStateStore for crate::store::Store {
    fn get(&self, module: &str, key: &str) -> Option<String> {
        let v = self.guest_state(module, key).ok()??;
        Some(String::from_utf8_lossy(&v).into_owned())
    }

    fn set(&self, module: &str, key: &str, value: &str) -> Result<(), String> {
        self.set_guest_state(module, key, value.as_bytes())
            .map_err(|e| e.to_string())
    }

    fn remove(&self, module: &str, key: &str) {
        let _ = self.remove_guest_state(module, key);
    }

    fn count(&self, module: &str) -> usize {
        self.guest_state_count(module)
    }
}

/// Problems with the `[[pollers]]` entries: a module that is not
/// registered, or not a poller.
pub fn check_pollers(host: &WasmHost, pollers: &[PollerConfig]) -> Vec<SetupError> {
    let mut out = Vec::new();
    for p in pollers {
        let bad = |message: String| SetupError::Poller {
            state_machine: p.state_machine.clone(),
            state: p.state.clone(),
            message,
        };
        match host.module(&p.module) {
            None => out.push(bad(format!("no module is registered as {:?}", p.module))),
            Some(m) if m.world() != "poller" => {
                out.push(bad(format!("module {:?} is a {}, not a poller", p.module, m.world())))
            }
            Some(_) => {}
        }
    }
    out
}
