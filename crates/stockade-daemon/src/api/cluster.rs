//! `/api/cluster`: the members of the cluster and `stockade drain`.

use super::{AppState, Failure};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use stockade_proto::ClusterView;

fn member(state: &AppState) -> Result<&crate::cluster::Cluster, Failure> {
    state.cluster.as_ref().ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "not_a_cluster",
            "this daemon is not a cluster member",
            "add [cluster] database = \"postgres://…\" to the spec (or set STOCKADE_DATABASE) to make it one",
        )
    })
}

/// `GET /api/cluster`: every member with its epoch, lease age, room,
/// running jobs and state; the leader; why this member is degraded, if it is.
pub async fn view(State(state): State<AppState>) -> Result<Json<ClusterView>, Failure> {
    Ok(Json(member(&state)?.view().await?))
}

/// `POST /api/cluster/drain`: stop (`{"draining": true}`, the default for an
/// empty body) or resume (`false`) claiming on this host; what it runs
/// goes on. Answers the cluster view.
pub async fn drain(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<ClusterView>, Failure> {
    let cluster = member(&state)?;
    let draining = if body.iter().all(u8::is_ascii_whitespace) {
        true
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("the body is not JSON: {e}"),
                "send {\"draining\": true}",
            )
        })?;
        match value.get("draining").and_then(serde_json::Value::as_bool) {
            Some(d) => d,
            None => {
                return Err(Failure::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_body",
                    "the body needs a boolean `draining`",
                    "send {\"draining\": true} to drain, {\"draining\": false} to resume",
                ));
            }
        }
    };
    cluster.drain(draining).await?;
    Ok(Json(cluster.view().await?))
}
