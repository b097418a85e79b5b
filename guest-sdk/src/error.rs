//! [`TaskError`]: an error in Step Functions' shape.

/// An error in Step Functions' shape: `error` is the name that `Retry` and
/// `Catch` match (`EKS.404`, `States.TaskFailed`), `cause` says what
/// happened. The host functions return it; a task or poller returns it to
/// fail its Task state.
///
/// This is the WIT record `task-error`, so it passes to and from the host
/// unchanged.
pub use crate::bindings::imports::aslan::host::types::TaskError;

impl TaskError {
    /// `States.Runtime`: what Step Functions raises for bad input, as the
    /// host does for text that is not JSON. Not matched by `States.ALL`'s
    /// retries.
    pub const RUNTIME: &'static str = "States.Runtime";
    /// `States.TaskFailed`: a task that failed for a reason it does not name.
    pub const TASK_FAILED: &'static str = "States.TaskFailed";

    /// An error named `error` with `cause`.
    ///
    /// ```
    /// let e = aslan_guest::TaskError::new("Job.ImagePullBackOff", "pod p container c: ErrImagePull");
    /// assert_eq!((e.error.as_str(), e.cause.as_str()), ("Job.ImagePullBackOff", "pod p container c: ErrImagePull"));
    /// ```
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A `States.Runtime` error with `cause`.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(Self::RUNTIME, cause)
    }

    /// A `States.TaskFailed` error with `cause`.
    pub fn task_failed(cause: impl Into<String>) -> Self {
        Self::new(Self::TASK_FAILED, cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        assert_eq!(TaskError::runtime("x"), TaskError::new("States.Runtime", "x"));
        assert_eq!(TaskError::task_failed("y"), TaskError::new("States.TaskFailed", "y"));
    }
}
