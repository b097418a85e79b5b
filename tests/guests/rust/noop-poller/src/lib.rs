//! A poller that always decides `again` after 1000 ms with the state it was
//! given, unchanged (`{"attempt":0}` on the first poll): the smallest
//! poller, for benchmarks. It calls no host function and parses no JSON: it
//! implements the raw `wit-bindgen` export of world `poller` directly
//! (strings in, strings out), so no JSON parser is linked.

use aslan_guest::bindings::poller::Guest;
use aslan_guest::raw::types::{AgainAfter, Decision};
use aslan_guest::Context;

struct Noop;

impl Guest for Noop {
    fn decide(_ctx: Context, _request: String, state: Option<String>) -> Decision {
        Decision::Again(AgainAfter {
            after_ms: 1000,
            state: state.unwrap_or_else(|| r#"{"attempt":0}"#.to_string()),
        })
    }
}

#[cfg(target_arch = "wasm32")]
aslan_guest::bindings::poller::__export_poller_world!(Noop with_types_in aslan_guest::bindings::poller);
