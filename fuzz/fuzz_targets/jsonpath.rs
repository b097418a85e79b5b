//! Any string as a JSONPath: parsing never panics, and a parsed path
//! evaluates (and, when it is a Reference Path, writes) without panicking.
#![no_main]
use aslan::asl::path::Path;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = Path::parse(text) {
        let mut doc = json!({"a": {"b": [1, 2.5, "x", null, true, {"c": [[], {}]}]}, "list": [{"p": 1}, {"p": "2"}], "": {"k y": 0}});
        let _ = p.select_value(&doc);
        let _ = p.take(doc.clone());
        if p.is_reference() {
            let _ = p.set(&mut doc, json!("new"));
        }
    }
});
