//! Checking a request body against the EKS API model's shapes ([`super::shapes`]).
//!
//! A member of the wrong JSON type is a `SerializationException` (the service cannot
//! deserialize it); an unknown member, a missing required one, a value outside its length or
//! range constraints or not in its enum is an `InvalidParameterException`.

use super::error::EksError;
use serde_json::Value;

/// A shape.
pub enum Ty {
    /// A string with optional min/max length.
    Str(Option<i64>, Option<i64>),
    /// A boolean.
    Bool,
    /// An integer with optional min/max.
    Int(Option<i64>, Option<i64>),
    /// A string from a fixed set.
    Enum(&'static [&'static str]),
    /// A list with optional min/max length.
    List(&'static Ty, Option<i64>, Option<i64>),
    /// A map with optional min/max entries.
    Map(&'static Ty, &'static Ty, Option<i64>, Option<i64>),
    /// A structure.
    Struct(&'static [Member]),
}

/// A member of a structure.
pub struct Member {
    /// Its JSON name.
    pub name: &'static str,
    /// Its shape.
    pub ty: &'static Ty,
    /// Whether it must be present.
    pub required: bool,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn constraint(value: &str, path: &str, what: &str) -> EksError {
    EksError::invalid_parameter(format!(
        "1 validation error detected: Value {value} at '{path}' failed to satisfy constraint: {what}"
    ))
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => {
            let s = other.to_string();
            if s.chars().count() > 100 {
                format!("{}...", s.chars().take(100).collect::<String>())
            } else {
                s
            }
        }
    }
}

fn len_check(v: &Value, n: usize, min: Option<i64>, max: Option<i64>, path: &str, unit: &str) -> Result<(), EksError> {
    let n = n as i64;
    if let Some(min) = min {
        if n < min {
            return Err(constraint(
                &shown(v),
                path,
                &format!("Member must have {unit} greater than or equal to {min}"),
            ));
        }
    }
    if let Some(max) = max {
        if n > max {
            return Err(constraint(
                &shown(v),
                path,
                &format!("Member must have {unit} less than or equal to {max}"),
            ));
        }
    }
    Ok(())
}

fn type_error(path: &str, want: &str) -> EksError {
    EksError::serialization(format!("Unable to deserialize '{path}': expected {want}"))
}

/// Checks `v` (at `path`, `""` for the body) against `ty`.
pub fn check(v: &Value, ty: &Ty, path: &str) -> Result<(), EksError> {
    if v.is_null() {
        return Ok(());
    }
    match ty {
        Ty::Str(min, max) => {
            let s = v.as_str().ok_or_else(|| type_error(path, "a string"))?;
            len_check(v, s.chars().count(), *min, *max, path, "length")
        }
        Ty::Bool => v.as_bool().map(|_| ()).ok_or_else(|| type_error(path, "a boolean")),
        Ty::Int(min, max) => {
            let n = v.as_i64().ok_or_else(|| type_error(path, "an integer"))?;
            if min.is_some_and(|m| n < m) {
                return Err(constraint(
                    &n.to_string(),
                    path,
                    &format!("Member must have value greater than or equal to {}", min.unwrap_or(0)),
                ));
            }
            if max.is_some_and(|m| n > m) {
                return Err(constraint(
                    &n.to_string(),
                    path,
                    &format!("Member must have value less than or equal to {}", max.unwrap_or(0)),
                ));
            }
            Ok(())
        }
        Ty::Enum(values) => {
            let s = v.as_str().ok_or_else(|| type_error(path, "a string"))?;
            if values.contains(&s) {
                Ok(())
            } else {
                Err(constraint(
                    &shown(v),
                    path,
                    &format!("Member must satisfy enum value set: [{}]", values.join(", ")),
                ))
            }
        }
        Ty::List(item, min, max) => {
            let a = v.as_array().ok_or_else(|| type_error(path, "a list"))?;
            len_check(v, a.len(), *min, *max, path, "length")?;
            for (i, x) in a.iter().enumerate() {
                if x.is_null() {
                    return Err(constraint(
                        "null",
                        &format!("{path}.{}", i + 1),
                        "Member must not be null",
                    ));
                }
                check(x, item, &format!("{path}.{}", i + 1))?;
            }
            Ok(())
        }
        Ty::Map(key, val, min, max) => {
            let o = v.as_object().ok_or_else(|| type_error(path, "a map"))?;
            len_check(v, o.len(), *min, *max, path, "length")?;
            for (k, x) in o {
                check(&Value::String(k.clone()), key, &format!("{path}.key"))?;
                if x.is_null() {
                    return Err(constraint("null", &format!("{path}.{k}"), "Member must not be null"));
                }
                check(x, val, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Ty::Struct(members) => {
            let o = v.as_object().ok_or_else(|| type_error(path, "a structure"))?;
            for k in o.keys() {
                if !members.iter().any(|m| m.name == k) {
                    let names: Vec<&str> = members.iter().map(|m| m.name).collect();
                    return Err(EksError::invalid_parameter(format!(
                        "Unknown parameter in input: \"{}\", must be one of: {}",
                        join(path, k),
                        names.join(", ")
                    )));
                }
            }
            for m in members.iter() {
                match o.get(m.name) {
                    None | Some(Value::Null) if m.required => {
                        return Err(constraint("null", &join(path, m.name), "Member must not be null"));
                    }
                    Some(x) => check(x, m.ty, &join(path, m.name))?,
                    None => {}
                }
            }
            Ok(())
        }
    }
}
