//! Any string as an intrinsic call inside Parameters: compiling and running
//! the state never panics. The body runs on a thread with a 256 KiB stack,
//! so deep nesting that would exhaust a server thread's stack crashes here
//! too (the seeds hold 5,000 nested calls).
#![no_main]
use aslan::asl::{Execution, ExecutionInfo, Machine, Options};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::Arc;

fn check(text: &str) {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"r.$": text}, "End": true}}});
    if let Ok(m) = Machine::compile(&def) {
        let input = json!({"s": "a,b", "n": 3, "arr": [1, 2, 2], "o": {"k": "v"}, "j": "{\"x\":1}"});
        let _ = Execution::start(Arc::new(m), ExecutionInfo::local("F", "f", 0), input, Options::default(), 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let text = text.to_string();
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || check(&text))
        .expect("a thread")
        .join()
        .expect("no panic");
});
