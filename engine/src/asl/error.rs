//! The predefined error names of the States language and the error type
//! that carries an `{Error, Cause}` pair through the interpreter.

use std::fmt;

/// `States.ALL`: matches any error name in Retry/Catch, except the terminal
/// `States.Runtime` and `States.DataLimitExceeded`.
pub const ALL: &str = "States.ALL";
/// An execution-level failure that no Retry or Catch can handle.
pub const RUNTIME: &str = "States.Runtime";
/// Any task failure; as a matcher, every error of a Task except `States.Timeout`.
pub const TASK_FAILED: &str = "States.TaskFailed";
/// A Task ran longer than `TimeoutSeconds`.
pub const TIMEOUT: &str = "States.Timeout";
/// A Task sent no heartbeat for `HeartbeatSeconds`.
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
/// No Choice rule matched and there is no `Default`.
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// A `.$` field's path failed.
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
/// `ResultPath` could not be applied to the state's input.
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// An intrinsic function failed.
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
/// An input, output or result exceeded 256 KiB.
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// A Map state's items could not be read.
pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
/// A Distributed Map's `ResultWriter` could not write its results.
pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
/// A Distributed Map's children failed beyond the tolerated failures.
pub const EXCEED_TOLERATED_FAILURE: &str = "States.ExceedToleratedFailureThreshold";

/// A JSONata expression failed, was undefined or gave a value of the wrong type.
pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";

/// Largest payload (input, output, result) a state may carry: 256 KiB.
pub const PAYLOAD_LIMIT: usize = 256 * 1024;

/// An error raised while executing a state: the `Error` and `Cause` that
/// Retry and Catch match on and that a failed execution reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateError {
    /// The error name, e.g. `States.Timeout` or a task's own name.
    pub error: String,
    /// A human-readable explanation.
    pub cause: String,
}

impl StateError {
    /// Builds an error from a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StateError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A `States.Runtime` error.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(RUNTIME, cause)
    }

    /// A `States.IntrinsicFailure` error.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(INTRINSIC_FAILURE, cause)
    }

    /// True for errors that no Retry or Catch may handle.
    pub fn is_terminal(&self) -> bool {
        self.error == RUNTIME
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for StateError {}
