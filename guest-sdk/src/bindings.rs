//! The `wit-bindgen` bindings of `aslan:host@0.1.0`, generated from `../wit`.
//!
//! The interfaces are generated once, with the `imports` world; the `task`
//! and `poller` worlds reuse them through `with`, so every guest sees the
//! same Rust types whichever world it exports. Their `export!` macros are
//! public (`pub_export_macro`): with that option wit-bindgen keeps the
//! world's exports out of this crate's own component-type section and
//! emits them where the macro is invoked, in the guest's crate, so a guest
//! only declares the export it defines.
#![allow(missing_docs, clippy::all)]

/// The interfaces (`types`, `kubernetes`, `eks`, `log`, `state`).
pub mod imports {
    wit_bindgen::generate!({
        world: "imports",
        path: "../wit",
        // `context`, `decision` and `again-after` are used only by the
        // poller world; generate them here so that it can reuse them.
        generate_unused_types: true,
        // Lets guests and tests compare errors, decisions and requests.
        additional_derives: [PartialEq, Eq],
    });
}

/// The `task` world: exports `run`.
pub mod task {
    wit_bindgen::generate!({
        world: "task",
        path: "../wit",
        with: {
            "aslan:host/types@0.1.0": crate::bindings::imports::aslan::host::types,
            "aslan:host/kubernetes@0.1.0": crate::bindings::imports::aslan::host::kubernetes,
            "aslan:host/eks@0.1.0": crate::bindings::imports::aslan::host::eks,
            "aslan:host/log@0.1.0": crate::bindings::imports::aslan::host::log,
            "aslan:host/state@0.1.0": crate::bindings::imports::aslan::host::state,
        },
        pub_export_macro: true,
        export_macro_name: "__export_task_world",
    });
}

/// The `poller` world: exports `decide`.
pub mod poller {
    wit_bindgen::generate!({
        world: "poller",
        path: "../wit",
        with: {
            "aslan:host/types@0.1.0": crate::bindings::imports::aslan::host::types,
            "aslan:host/kubernetes@0.1.0": crate::bindings::imports::aslan::host::kubernetes,
            "aslan:host/eks@0.1.0": crate::bindings::imports::aslan::host::eks,
            "aslan:host/log@0.1.0": crate::bindings::imports::aslan::host::log,
            "aslan:host/state@0.1.0": crate::bindings::imports::aslan::host::state,
        },
        pub_export_macro: true,
        export_macro_name: "__export_poller_world",
    });
}

/// The `workflow` world: imports `durable`, exports the interface `entry`.
pub mod workflow {
    wit_bindgen::generate!({
        world: "workflow",
        path: "../wit",
        with: {
            "aslan:host/types@0.1.0": crate::bindings::imports::aslan::host::types,
            "aslan:host/kubernetes@0.1.0": crate::bindings::imports::aslan::host::kubernetes,
            "aslan:host/eks@0.1.0": crate::bindings::imports::aslan::host::eks,
            "aslan:host/log@0.1.0": crate::bindings::imports::aslan::host::log,
        },
        pub_export_macro: true,
        export_macro_name: "__export_workflow_world",
    });
}
