//! A task whose `run` panics. Guests are built with `panic = "abort"`, so
//! the panic ends in `unreachable`: the call traps (on wasm32-wasip2 the
//! message goes to stderr first).

use aslan_guest::{RawTask, TaskError};

struct Trap;

impl RawTask for Trap {
    fn run(_input: String) -> Result<String, TaskError> {
        panic!("trap: this guest always panics")
    }
}

aslan_guest::export_raw_task!(Trap);
