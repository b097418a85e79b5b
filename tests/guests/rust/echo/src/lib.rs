//! A task that returns its input unchanged, as text: the smallest useful
//! guest, for benchmarks. A [`RawTask`] links no JSON parser.

use aslan_guest::{RawTask, TaskError};

struct Echo;

impl RawTask for Echo {
    fn run(input: String) -> Result<String, TaskError> {
        Ok(input)
    }
}

aslan_guest::export_raw_task!(Echo);
