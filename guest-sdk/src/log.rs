//! The engine's log.
//!
//! Lines go to the host's `tracing` log (target `aslan::guest`) with the
//! module, execution and state they came from. A message is cut at 4 KiB
//! and one call of a guest may log at most 1,000 lines.

use crate::bindings::imports::aslan::host::log as raw;

/// How much a line matters: `Trace`, `Debug`, `Info`, `Warn` or `Error`.
pub use raw::Level;

/// Writes one line at `level`.
pub fn log(level: Level, message: &str) {
    raw::log(level, message)
}

/// Writes one line at `trace`.
pub fn trace(message: &str) {
    log(Level::Trace, message)
}

/// Writes one line at `debug`.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Writes one line at `info`.
///
/// ```no_run
/// let (namespace, name, attempt) = ("default", "pi", 3);
/// aslan_guest::log::info(&format!("job {namespace}/{name}: poll {attempt}"));
/// ```
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Writes one line at `warn`.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Writes one line at `error`.
pub fn error(message: &str) {
    log(Level::Error, message)
}
