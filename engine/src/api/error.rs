//! The API's errors: AWS's error types (`__type`) as an enum, and the JSON
//! error body the SDKs parse.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

macro_rules! kinds {
    ($($k:ident),* $(,)?) => {
        /// An AWS Step Functions error type, named as AWS names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum ErrorKind { $($k),* }

        impl ErrorKind {
            /// The name the SDKs match on (`__type`, `x-amzn-errortype`).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorKind::$k => stringify!($k)),* }
            }
        }
    };
}

kinds!(
    AccessDeniedException,
    ActivityDoesNotExist,
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    IncompleteSignatureException,
    InternalServerError,
    InvalidArn,
    InvalidDefinition,
    InvalidExecutionInput,
    InvalidName,
    InvalidOutput,
    InvalidSignatureException,
    InvalidToken,
    MissingAuthenticationToken,
    MissingRequiredParameter,
    ResourceNotFound,
    SerializationException,
    ServiceUnavailable,
    StateMachineAlreadyExists,
    StateMachineDoesNotExist,
    StateMachineTypeNotSupported,
    TaskDoesNotExist,
    TaskTimedOut,
    UnknownOperationException,
    UnrecognizedClientException,
    ValidationException,
);

impl ErrorKind {
    /// The HTTP status AWS answers this error with.
    pub fn status(self) -> StatusCode {
        use ErrorKind::*;
        match self {
            MissingAuthenticationToken
            | InvalidSignatureException
            | IncompleteSignatureException
            | AccessDeniedException
            | UnrecognizedClientException => StatusCode::FORBIDDEN,
            InternalServerError | ServiceUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An error in AWS's JSON shape.
#[derive(Debug)]
pub struct ApiError {
    /// The error type.
    pub kind: ErrorKind,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// A `ValidationException`.
    pub fn validation(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::ValidationException, m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind.as_str();
        let body = json!({"__type": kind, "message": self.message}).to_string();
        (
            self.kind.status(),
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-errortype", kind),
            ],
            body,
        )
            .into_response()
    }
}
