//! Any bytes: parsing and validating must never panic; a definition that
//! compiles must run (a bounded number of steps) without panicking.
#![no_main]
use aslan::asl::{Execution, ExecutionInfo, Machine, Options};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Machine::from_json(text) {
        // Guard against infinite Pass/Choice loops: only run machines without back edges is
        // too strict, so cap the work by refusing very large machines instead.
        if m.states.len() <= 16 && !text.contains("\"Next\"") {
            let _ = Execution::start(Arc::new(m), ExecutionInfo::local("F", "f", 0), serde_json::json!({"a": [1, 2, {"b": "c"}]}), Options { history: true, seed: None, history_sink: None, variables: None, start_list: None }, 0);
        }
    }
});
