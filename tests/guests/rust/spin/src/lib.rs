//! A task whose `run` never returns: it counts forever, so only the host's
//! deadline (fuel or epoch interruption) ends it.

use aslan_guest::{RawTask, TaskError};

struct Spin;

impl RawTask for Spin {
    fn run(_input: String) -> Result<String, TaskError> {
        let mut n: u64 = 0;
        loop {
            // black_box: the loop must really run, not be optimized away.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

aslan_guest::export_raw_task!(Spin);
