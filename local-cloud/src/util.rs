//! Small helpers: time stamps, random names, metadata access.

use serde_json::{Map, Value};

/// Now, as a Kubernetes `Time` string (seconds precision).
pub fn now_rfc3339() -> String {
    rfc3339_secs(jiff::Timestamp::now())
}

/// A timestamp with seconds precision, as Kubernetes writes `Time`.
pub fn rfc3339_secs(ts: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(ts.as_second())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A timestamp with nanoseconds, as `RFC3339Nano` (trailing zeros kept to 9 digits).
pub fn rfc3339_nanos(ts: jiff::Timestamp) -> String {
    let secs = rfc3339_secs(ts);
    let base = secs.trim_end_matches('Z');
    format!("{base}.{:09}Z", ts.subsec_nanosecond())
}

/// Parses a Kubernetes time string.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// Random bytes (from the OS generator, via UUID v4).
pub fn random_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// A random suffix as `generateName` makes: 5 characters of `bcdfghjklmnpqrstvwxz2456789`.
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A new object UID.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Hex of random bytes (container ids, tokens).
pub fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        for b in random_bytes() {
            s.push_str(&format!("{b:02x}"));
        }
    }
    s.truncate(n);
    s
}

/// `metadata.<field>` as a string, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid")
}

/// `metadata`, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let o = obj.as_object_mut().expect("object");
    let m = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("object")
}

/// A string map at `metadata.<field>` (labels, annotations).
pub fn meta_map(obj: &Value, field: &str) -> Map<String, Value> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Whether the object is owned by `owner_uid`.
pub fn owned_by(obj: &Value, owner_uid: &str) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
        })
}

/// The value at a dotted path (`status.phase`).
pub fn at_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, seg| v.get(seg))
}

/// Kubernetes' `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }

    #[test]
    fn nanos_keep_nine_digits() {
        let ts: jiff::Timestamp = "2024-01-02T03:04:05.5Z".parse().unwrap();
        assert_eq!(rfc3339_nanos(ts), "2024-01-02T03:04:05.500000000Z");
        assert_eq!(rfc3339_secs(ts), "2024-01-02T03:04:05Z");
    }

    #[test]
    fn suffixes_use_the_kubernetes_alphabet() {
        let s = name_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
