//! The pure core: the Amazon States Language model, validation, JSONPath,
//! intrinsic functions, Choice rules and the interpreter's step function.
//!
//! Nothing in this module performs I/O, reads a clock or spawns a task: time
//! enters as an argument and effects leave as [`step::Command`]s.

pub mod choice;
pub mod diag;
pub mod error;
pub mod history;
pub mod intrinsics;
pub mod model;
pub mod path;
pub mod step;
pub mod template;

pub use diag::Diagnostic;
pub use error::StateError;
pub use model::{InvalidDefinition, Machine};
pub use step::{Command, Event, Execution, ExecutionInfo, Options, Status, TaskInvocation};
