//! Any string as a JSONPath: parsing never panics, and a parsed path
//! evaluates (and, when it is a Reference Path, writes) without panicking.
//! The body runs on a thread with a 256 KiB stack, so deep nesting that
//! would exhaust a server thread's stack crashes here too (the seeds hold
//! 5,000 nested parentheses, `!` and filters).
#![no_main]
use aslan::asl::path::Path;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn check(text: &str) {
    if let Ok(p) = Path::parse(text) {
        let mut doc = json!({"a": {"b": [1, 2.5, "x", null, true, {"c": [[], {}]}]}, "list": [{"p": 1}, {"p": "2"}], "": {"k y": 0}});
        let _ = p.select_value(&doc);
        let _ = p.take(doc.clone());
        if p.is_reference() {
            let _ = p.set(&mut doc, json!("new"));
        }
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
