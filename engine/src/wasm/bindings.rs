//! Rust bindings of `wit/` for the host, made by wasmtime's `bindgen!`.
//!
//! The `task` world's bindings define the shared interfaces; the `poller`
//! world reuses them (`with`), so one implementation of each import serves
//! both worlds. Every import is `async` (host calls do network I/O on the
//! tokio runtime) and `trappable` (a call the allowlist refuses traps the
//! guest, so the Task fails whatever the guest would do next).

#![allow(missing_docs)]

/// The `task` world: `export run: func(input: string) -> result<string, task-error>`.
pub mod task {
    wasmtime::component::bindgen!({
        world: "aslan:host/task",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `poller` world: `export decide: func(ctx, request, state) -> decision`.
pub mod poller {
    wasmtime::component::bindgen!({
        world: "aslan:host/poller",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "aslan:host/types": super::task::aslan::host::types,
            "aslan:host/kubernetes": super::task::aslan::host::kubernetes,
            "aslan:host/eks": super::task::aslan::host::eks,
            "aslan:host/log": super::task::aslan::host::log,
            "aslan:host/state": super::task::aslan::host::state,
        },
    });
}

/// The `workflow` world: imports `durable`, exports the interface `entry`
/// (`run`).
pub mod workflow {
    wasmtime::component::bindgen!({
        world: "aslan:host/workflow",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "aslan:host/types": super::task::aslan::host::types,
            "aslan:host/kubernetes": super::task::aslan::host::kubernetes,
            "aslan:host/eks": super::task::aslan::host::eks,
            "aslan:host/log": super::task::aslan::host::log,
        },
    });
}

pub use task::aslan::host::{eks, kubernetes, log, state, types};
pub use workflow::aslan::host::durable;
