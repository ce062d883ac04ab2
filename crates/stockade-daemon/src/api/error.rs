//! [`Failure`]: an API error with its status code, rendered as JSON.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stockade_engine::EngineError;
use stockade_proto::ApiError;
use stockade_store::StoreError;

/// An error response: a status and the `{"code","message","hint"}` body.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    body: ApiError,
    retry_after: Option<u64>,
}

impl Failure {
    /// A failure from its parts.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Failure {
        Failure { status, body: ApiError::new(code, message, hint), retry_after: None }
    }

    /// The HTTP status.
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<EngineError> for Failure {
    fn from(err: EngineError) -> Failure {
        let status = match &err {
            EngineError::UnknownService { .. }
            | EngineError::UnknownTemplate { .. }
            | EngineError::UnknownJob { .. } => StatusCode::NOT_FOUND,
            EngineError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            EngineError::AlreadyFinished { .. }
            | EngineError::IllegalMove { .. }
            | EngineError::ReloadRefused { .. } => StatusCode::CONFLICT,
            EngineError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            EngineError::Store(StoreError::DiskFull { .. }) => StatusCode::INSUFFICIENT_STORAGE,
            EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            EngineError::ShuttingDown | EngineError::Draining => StatusCode::SERVICE_UNAVAILABLE,
        };
        let retry_after = match &err {
            EngineError::QueueFull { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        };
        Failure { status, body: err.to_api(), retry_after }
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Failure {
        Failure::from(EngineError::Store(err))
    }
}

impl From<BytesRejection> for Failure {
    fn from(rejection: BytesRejection) -> Failure {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Failure::new(
                status,
                "body_too_large",
                rejection.body_text(),
                format!(
                    "bodies are limited to {} KiB; submit large batches in several requests",
                    super::MAX_BODY / 1024
                ),
            );
        }
        Failure::new(status, "bad_body", rejection.body_text(), "send the whole body again")
    }
}

impl From<PathRejection> for Failure {
    fn from(rejection: PathRejection) -> Failure {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            rejection.body_text(),
            "check the id in the URL",
        )
    }
}

impl From<QueryRejection> for Failure {
    fn from(rejection: QueryRejection) -> Failure {
        // Every query struct denies unknown fields, so serde's message names
        // the valid parameters ("unknown field `status`, expected one of ...").
        let text = rejection.body_text();
        let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("the query string does not fit: {text}"),
            "drop unknown parameters; the message lists the ones this endpoint takes",
        )
    }
}

/// Parse a numeric id from the path. Not digits: 400. Digits beyond what the
/// store can hold (above `i64::MAX`): no such object, 404 — never a 500.
pub fn path_id(raw: &str, what: &str) -> Result<u64, Failure> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            format!("`{raw}` is not a {what} id"),
            format!("{what} ids are decimal numbers, as returned by the API"),
        ));
    }
    match raw.parse::<u64>() {
        Ok(id) if i64::try_from(id).is_ok() => Ok(id),
        _ => Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("unknown_{what}").as_str(),
            format!("no {what} with id {raw}"),
            format!("no {what} id is that large; list them to find the one you mean"),
        )),
    }
}

/// The answer to a known path with a method it does not take.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
        "see GET /api/openapi.json or ARCHITECTURE.md §API for the methods of each route",
    )
}

/// The fallback route.
pub async fn not_found(uri: axum::http::Uri) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
        "see ARCHITECTURE.md §API for the routes",
    )
}
