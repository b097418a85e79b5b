//! A history event as one line of JSON, written by hand: the bytes
//! `serde_json::to_writer` gives for [`HistoryEvent`] (and a newline), at
//! a fraction of the cost. `aslan run --history` writes every event this
//! way; the serde path stays for everything else (the API, tests).
//!
//! Equality with serde_json is tested for every kind of details, for
//! strings holding every byte serde_json escapes, and for timestamps.

use super::{resource_parts, Detail, Details, HistoryEvent, Scheduled};

impl HistoryEvent {
    /// Appends the event to `out` as one line of JSON: exactly what
    /// `serde_json::to_writer(out, self)` writes, then `\n`.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":");
        seconds(out, self.timestamp_ms);
        out.extend_from_slice(b",\"type\":");
        string(out, self.event_type);
        out.extend_from_slice(b",\"id\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.id).as_bytes());
        out.extend_from_slice(b",\"previousEventId\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.previous_event_id).as_bytes());
        if let Some((k, d)) = &self.details {
            out.push(b',');
            string(out, k);
            out.push(b':');
            d.write_json(out);
        }
        out.extend_from_slice(b"}\n");
    }
}

impl Details {
    fn write_json(&self, out: &mut Vec<u8>) {
        const NOT_TRUNCATED: &[u8] = b"{\"truncated\":false}";
        let field = |out: &mut Vec<u8>, first: bool, k: &[u8], v: &str| {
            out.extend_from_slice(if first { b"{\"" } else { b",\"" });
            out.extend_from_slice(k);
            out.extend_from_slice(b"\":");
            string(out, v);
        };
        let details = |out: &mut Vec<u8>, k: &[u8]| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(k);
            out.extend_from_slice(b"\":");
            out.extend_from_slice(NOT_TRUNCATED);
        };
        let number = |out: &mut Vec<u8>, k: &[u8], n: u64| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(k);
            out.extend_from_slice(b"\":");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        };
        match &self.detail {
            Detail::StateEntered { name, input } => {
                field(out, true, b"name", name);
                field(out, false, b"input", input);
                details(out, b"inputDetails");
            }
            Detail::StateExited { name, output } => {
                field(out, true, b"name", name);
                field(out, false, b"output", output);
                details(out, b"outputDetails");
            }
            Detail::ExecutionStarted { input, role_arn } => {
                field(out, true, b"input", input);
                details(out, b"inputDetails");
                field(out, false, b"roleArn", role_arn);
            }
            Detail::ExecutionSucceeded { output } => {
                field(out, true, b"output", output);
                details(out, b"outputDetails");
            }
            Detail::MapIteration { name, index } => {
                field(out, true, b"name", name);
                number(out, b"index", u64::from(*index));
            }
            Detail::MapStateStarted { length } => {
                out.extend_from_slice(b"{\"length\":");
                out.extend_from_slice(itoa::Buffer::new().format(*length).as_bytes());
            }
            Detail::TaskScheduled(t) => {
                let Scheduled {
                    resource,
                    region,
                    parameters,
                    timeout,
                    heartbeat,
                } = &**t;
                let (rt, r) = resource_parts(resource);
                field(out, true, b"resourceType", rt);
                field(out, false, b"resource", r);
                field(out, false, b"region", region);
                field(out, false, b"parameters", parameters);
                if let Some(t) = timeout {
                    number(out, b"timeoutInSeconds", *t);
                }
                if let Some(h) = heartbeat {
                    number(out, b"heartbeatInSeconds", *h);
                }
            }
            Detail::TaskStarted { resource } => {
                let (rt, r) = resource_parts(resource);
                field(out, true, b"resourceType", rt);
                field(out, false, b"resource", r);
            }
            Detail::TaskSucceeded { resource, output } => {
                let (rt, r) = resource_parts(resource);
                field(out, true, b"resourceType", rt);
                field(out, false, b"resource", r);
                field(out, false, b"output", output);
                details(out, b"outputDetails");
            }
            Detail::Json(v) => {
                serde_json::to_writer(&mut *out, v).expect("serializing a Value into memory cannot fail");
                return;
            }
        }
        out.push(b'}');
    }
}

/// Epoch milliseconds as serde_json writes `ms as f64 / 1000.0`: the
/// shortest decimal that reads back as that number, which for these
/// magnitudes is the seconds, a point, and the milliseconds without
/// trailing zeros (`.0` for none). Other values go through serde_json.
fn seconds(out: &mut Vec<u8>, ms: i64) {
    if !(0..1_000_000_000_000_000).contains(&ms) {
        serde_json::to_writer(&mut *out, &(ms as f64 / 1000.0)).expect("serializing a number into memory cannot fail");
        return;
    }
    out.extend_from_slice(itoa::Buffer::new().format(ms / 1000).as_bytes());
    out.push(b'.');
    let frac = (ms % 1000) as u16;
    let digits = [
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    let len = match frac {
        0 => 1,
        _ if frac % 100 == 0 => 1,
        _ if frac % 10 == 0 => 2,
        _ => 3,
    };
    out.extend_from_slice(&digits[..len]);
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `w` is a control character, `"` or
/// `\`: the bytes serde_json escapes.
fn needs_escape(w: u64) -> bool {
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero_byte(w ^ (ONES * u64::from(b'"'))) | zero_byte(w ^ (ONES * u64::from(b'\\'))) != 0
}

/// `s` as a JSON string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        while let Some(chunk) = bytes.get(i..i + 8) {
            if needs_escape(u64::from_le_bytes(chunk.try_into().expect("eight bytes"))) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0..=0x1f => b'u',
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn same(ev: &HistoryEvent) {
        let mut line = Vec::new();
        ev.write_json_line(&mut line);
        let mut want = serde_json::to_vec(ev).unwrap();
        want.push(b'\n');
        assert_eq!(String::from_utf8(line).unwrap(), String::from_utf8(want).unwrap());
    }

    fn event(ms: i64, details: Option<(&'static str, Details)>) -> HistoryEvent {
        HistoryEvent {
            id: 7,
            previous_event_id: 6,
            timestamp_ms: ms,
            event_type: "PassStateEntered",
            details,
        }
    }

    #[test]
    fn every_kind_of_details_matches_serde_json() {
        let tricky: String = (0u8..0x80).map(char::from).chain("é€😀\u{7f}".chars()).collect();
        let p = |s: &str| -> Arc<str> { Arc::from(s) };
        let all = [
            (
                "stateEnteredEventDetails",
                Details::state_entered(p("S \"q\""), p(&tricky)),
            ),
            (
                "stateExitedEventDetails",
                Details::state_exited(p("S"), p("{\"a\":[1,\"\\\\\"]}")),
            ),
            (
                "stateExitedEventDetails",
                Details::state_exited_assigning("S", "{}", vec![("x".into(), "1".into())]),
            ),
            (
                "executionStartedEventDetails",
                Details::execution_started(p("{}"), p("arn:aws:iam::1:role/R")),
            ),
            (
                "executionSucceededEventDetails",
                Details::execution_succeeded(p("null")),
            ),
            ("mapIterationStartedEventDetails", Details::map_iteration(p("M"), 41)),
            ("mapStateStartedEventDetails", Details::map_state_started(10_000)),
            (
                "taskScheduledEventDetails",
                Details::task_scheduled(
                    p("arn:aws:states:::lambda:invoke"),
                    p("us-east-1"),
                    p(&tricky),
                    Some(5),
                    Some(2),
                ),
            ),
            (
                "taskScheduledEventDetails",
                Details::task_scheduled(p("arn:aws:states:us-east-1:1:activity:a"), p("eu"), p("{}"), None, None),
            ),
            (
                "taskStartedEventDetails",
                Details::task_started(p("arn:aws:states:::eks:runJob.sync")),
            ),
            (
                "taskSucceededEventDetails",
                Details::task_succeeded(p("arn:aws:states:::eks:call"), p("[1]")),
            ),
            (
                "executionFailedEventDetails",
                json!({"error": tricky, "cause": "c"}).into(),
            ),
        ];
        for (k, d) in all {
            same(&event(1_700_000_000_123, Some((k, d))));
        }
        same(&event(1_700_000_000_123, None));
    }

    #[test]
    fn timestamps_match_serde_json() {
        let mut ms: i64 = 1;
        for i in 0..20_000i64 {
            same(&event(1_700_000_000_000 + i * 37, None));
            same(&event(i, None));
            ms = ms.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            same(&event(ms.rem_euclid(4_000_000_000_000), None));
        }
        for ms in [0, 999_999_999_999_999, 1_000_000_000_000_000, -1, i64::MAX, i64::MIN] {
            same(&event(ms, None));
        }
    }

    #[test]
    fn strings_with_escapes_at_every_offset_match_serde_json() {
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}", "é"] {
            for at in 0..20 {
                let s = format!("{}{special}{}", "a".repeat(at), "b".repeat(20 - at));
                let name: Arc<str> = Arc::from(s.as_str());
                same(&event(
                    0,
                    Some(("stateEnteredEventDetails", Details::state_entered(name.clone(), name))),
                ));
            }
        }
    }
}
