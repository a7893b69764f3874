//! The one error type every service operation returns: what went wrong in
//! AWS's terms (HTTP status, error code, message, extra members), with no
//! wire format; the door's encoders give it the protocol's shape.

use http::StatusCode;

use crate::store::StoreError;

/// Why an operation failed, as AWS would report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct ServiceError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra members of the error (S3's `<BucketName>`, Lambda's `Reason`).
    pub fields: Vec<(String, String)>,
    pub(crate) kind: Kind,
}

/// Where an error came from; encoders shape a few differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The operation refused the request.
    Service,
    /// SigV4 refused the request before any operation ran.
    Auth,
    /// The sandbox failed (a state write); the service's internal code.
    Internal,
    /// IAM refused the caller (AccessDenied, AWS's `Message` spelling).
    Denied,
}

impl ServiceError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError {
            status,
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
            kind: Kind::Service,
        }
    }

    /// A 400 with `code`.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The service's internal failure (HTTP 500, the service's own code).
    pub fn internal(message: impl Into<String>) -> Self {
        ServiceError {
            kind: Kind::Internal,
            ..ServiceError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                message,
            )
        }
    }

    pub(crate) fn auth(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ServiceError {
            kind: Kind::Auth,
            ..ServiceError::new(status, code, message)
        }
    }

    pub(crate) fn denied(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ServiceError {
            kind: Kind::Denied,
            ..ServiceError::new(status, code, message)
        }
    }

    /// Adds an extra member.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn is_internal(&self) -> bool {
        self.kind == Kind::Internal
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::internal(format!("the sandbox could not save its state: {e}"))
    }
}

/// An error is an operation's outcome: lets a service's error helpers
/// serve both as `return not_found(…)` and as `Err(not_found(…))`.
impl From<ServiceError> for Result<super::Reply, ServiceError> {
    fn from(e: ServiceError) -> Self {
        Err(e)
    }
}
