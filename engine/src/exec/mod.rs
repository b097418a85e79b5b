//! Driving executions: clocks and the in-process runner.
//!
//! The runner here is ephemeral (what `aslan run` uses): it keeps timers in
//! memory and carries out the core's commands until the execution ends.

pub mod clock;
pub mod durable;
pub mod runner;

pub use clock::{Clock, ManualClock, SimulatedClock, SystemClock};
pub use durable::fresh_seed;
pub use runner::{run, RunResult};
