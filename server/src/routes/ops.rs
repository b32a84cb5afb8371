//! Operations: liveness, readiness, metrics, the OpenAPI document and the API console.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a dependency does not answer.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
}

/// Liveness: the process is up and serving, and (on SQLite) its writer task still takes writes:
/// a process whose writer ended can never write again, so it asks to be restarted.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health, description = "The SQLite writer task has ended"))
)]
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.db().can_write() {
        (StatusCode::OK, Json(Health { status: "ok", database: None }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "unavailable", database: Some(state.db().backend().name()) }),
        )
    }
}

/// Readiness: the database answers.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health, description = "Database unreachable"))
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db();
    match db.ping().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ok", database: Some(db.backend().name()) })),
        Err(why) => {
            // The probe's answer says only that it failed; the operator's log says why.
            tracing::warn!(reason = %why, "not ready: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health { status: "unavailable", database: Some(db.backend().name()) }),
            )
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.db().pool();
    metrics::gauge!("govifi_db_pool_connections").set(pool.size() as f64);
    metrics::gauge!("govifi_db_pool_idle_connections").set(pool.num_idle() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics().render())
}
