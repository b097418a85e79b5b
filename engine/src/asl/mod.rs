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
pub mod jsonata;
pub mod maprun;
pub mod model;
pub mod path;
pub mod step;
pub mod template;

pub use diag::Diagnostic;
pub use error::StateError;
pub use model::{InvalidDefinition, Machine};
pub use step::{Command, Event, Execution, ExecutionInfo, HistorySink, Options, Status, TaskInvocation};

/// Appends `bytes` to `s` as lowercase hex digits.
pub fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
}
