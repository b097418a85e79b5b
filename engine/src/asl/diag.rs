//! Validation diagnostics: every problem found in a definition, each with a
//! JSON-pointer location, a code and a message.

use serde::Serialize;
use std::fmt;

/// One problem in a state machine definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// JSON pointer (RFC 6901) to the offending value, e.g. `/States/A/Next`.
    pub location: String,
    /// A stable code in the style of ValidateStateMachineDefinition
    /// (`SCHEMA_VALIDATION_FAILED`, `MISSING_TRANSITION_TARGET`, ...).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = if self.location.is_empty() { "/" } else { &self.location };
        write!(f, "{loc}: {}: {}", self.code, self.message)
    }
}

/// A list of diagnostics being collected.
#[derive(Debug, Default, Clone)]
pub struct Diags(pub Vec<Diagnostic>);

impl Diags {
    /// Records a problem.
    pub fn err(&mut self, location: &str, code: &'static str, message: impl Into<String>) {
        self.0.push(Diagnostic {
            location: location.to_string(),
            code,
            message: message.into(),
        });
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Escapes a key for use in a JSON pointer.
pub fn esc(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
