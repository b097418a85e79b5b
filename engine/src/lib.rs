//! Aslan: a durable AWS Step Functions engine for one node.
//!
//! - [`Engine`] embeds the durable engine in a Rust program: open a
//!   store, register state machines and in-process task handlers, start
//!   executions, await them and subscribe to their history events.
//! - [`asl`] is the pure core: parse and validate Amazon States Language,
//!   and interpret it as a step function from (state, event) to
//!   (state, commands).
//! - [`api`] serves the AWS Step Functions API over HTTP, and [`console`]
//!   a web console over that API.
//! - [`exec`] drives executions: clocks, timers and task dispatch.
//! - [`store`] keeps executions durable in sled.
//! - [`tasks`] holds the task seam and its integrations: Kubernetes
//!   (`eks:call`, `eks:runJob`) and Step Functions Local's mock
//!   configuration.
//! - [`config`] reads the engine configuration file (cluster credentials).
//! - [`policy`] derives the IAM policy and Kubernetes RBAC rules a
//!   definition's EKS and Kubernetes states need.
#![warn(missing_docs)]

#[cfg(feature = "server")]
pub mod api;
pub mod asl;
pub mod config;
#[cfg(feature = "server")]
pub mod console;
pub mod engine;
pub mod exec;
pub mod policy;
pub mod store;
pub mod tasks;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use engine::{Engine, EngineBuilder, EngineError, ExecutionEvents, RunOnce};
