//! The JSON error body of the API.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every API error: `{"code", "message", "hint"}`. `code` is a stable
/// snake_case word clients can branch on (`queue_full`, `unknown_template`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiError {
    /// Stable machine-readable code.
    pub code: String,
    /// What went wrong, naming the object.
    pub message: String,
    /// What to do next.
    pub hint: String,
}

impl ApiError {
    /// Build an error from its three parts.
    pub fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError { code: code.into(), message: message.into(), hint: hint.into() }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}
