//! A task whose `run` allocates memory without bound: 1 MiB at a time,
//! writing to every page of each block and keeping them all, until the
//! host's memory limit makes an allocation fail (which aborts: a trap).

use aslan_guest::{RawTask, TaskError};

struct MemBomb;

const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

impl RawTask for MemBomb {
    fn run(_input: String) -> Result<String, TaskError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; MIB];
            for i in (0..MIB).step_by(PAGE) {
                block[i] = 1;
            }
            // black_box: the blocks must really be allocated and kept.
            hoard.push(std::hint::black_box(block));
        }
    }
}

aslan_guest::export_raw_task!(MemBomb);
