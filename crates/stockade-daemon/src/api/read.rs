//! [`store`]: a store read from a handler, on tokio's blocking pool.
//!
//! A SQLite read may walk thousands of rows or wait on the disk; on an async
//! worker it would stall every other connection (and, on a current-thread
//! runtime, the engine itself). Every handler reads the store through here,
//! never by calling [`Store`] directly.

use super::Failure;
use axum::http::StatusCode;
use stockade_store::{Store, StoreError};

/// Run `read` against `store` on the blocking pool and wait for it.
pub async fn store<T, F>(store: &Store, read: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    match tokio::task::spawn_blocking(move || read(&store)).await {
        Ok(result) => result.map_err(Failure::from),
        Err(err) => Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_read_failed",
            format!("a store read did not finish: {err}"),
            "this is a bug in stockade; retry the request, and report it if it repeats",
        )),
    }
}
