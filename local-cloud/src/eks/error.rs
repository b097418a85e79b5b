//! EKS errors as the service sends them: the HTTP status, `X-Amzn-ErrorType:
//! <Name>:http://internal.amazon.com/coral/com.amazonaws.eks/` (botocore and the smithy
//! SDKs keep what is before the `:`), and a JSON body with `message` and, where the API
//! declares them, `clusterName`, `nodegroupName`, `fargateProfileName`.

use serde_json::{json, Map, Value};

/// The namespace suffix real EKS puts after the error name in `X-Amzn-ErrorType`.
pub const ERROR_TYPE_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazonaws.eks/";

/// An EKS API error.
#[derive(Debug, Clone, PartialEq)]
pub struct EksError {
    /// The HTTP status.
    pub status: u16,
    /// The exception name (`ResourceNotFoundException`, ...).
    pub name: &'static str,
    /// The human-readable message.
    pub message: String,
    /// Extra members of the body (`clusterName`, ...).
    pub extra: Map<String, Value>,
}

impl EksError {
    /// An error with no extra members.
    pub fn new(status: u16, name: &'static str, message: impl Into<String>) -> EksError {
        EksError {
            status,
            name,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// Adds a body member.
    pub fn with(mut self, key: &str, value: &str) -> EksError {
        self.extra.insert(key.to_string(), Value::String(value.to_string()));
        self
    }

    /// 400 `InvalidParameterException`.
    pub fn invalid_parameter(message: impl Into<String>) -> EksError {
        EksError::new(400, "InvalidParameterException", message)
    }

    /// 400 `InvalidRequestException`.
    pub fn invalid_request(message: impl Into<String>) -> EksError {
        EksError::new(400, "InvalidRequestException", message)
    }

    /// 400 `SerializationException` (the body could not be deserialized).
    pub fn serialization(message: impl Into<String>) -> EksError {
        EksError::new(400, "SerializationException", message)
    }

    /// 404 `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> EksError {
        EksError::new(404, "ResourceNotFoundException", message)
    }

    /// 409 `ResourceInUseException`.
    pub fn in_use(message: impl Into<String>) -> EksError {
        EksError::new(409, "ResourceInUseException", message)
    }

    /// 400 `ResourceLimitExceededException`.
    pub fn limit(message: impl Into<String>) -> EksError {
        EksError::new(400, "ResourceLimitExceededException", message)
    }

    /// `No cluster found for name: X.`
    pub fn no_cluster(name: &str) -> EksError {
        EksError::not_found(format!("No cluster found for name: {name}.")).with("clusterName", name)
    }

    /// The `X-Amzn-ErrorType` header value.
    pub fn error_type(&self) -> String {
        format!("{}{ERROR_TYPE_SUFFIX}", self.name)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("message".into(), json!(self.message));
        Value::Object(m)
    }
}
