//! Seen from outside: liveness, readiness, OpenMetrics, the access log with request ids, the
//! headers every response carries, and a deadline for request bodies.

pub mod address;
pub mod metrics;
pub mod middleware;
pub mod request_context;

use std::net::IpAddr;

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;
use address::AddressRange;
use metrics::{OPENMETRICS_CONTENT_TYPE, PoolStats, ScrapeSnapshot, job_queue_stats, process_stats};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct OpsApi;

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unreachable or migrations pending"),
))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.db.backend.name();
    let pending = crate::http::with_conn(&state, |conn| Ok(conn.has_pending_migrations()?))
        .await
        .map_err(|e| ApiError { code: ErrorCode::Unavailable, ..e }.with_detail("the database is not reachable"))?;
    if pending {
        return Err(ApiError::new(ErrorCode::Unavailable).with_detail("database migrations are pending"));
    }
    Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": backend, "areas": state.territory().len() })))
}

/// Metrics in the OpenMetrics text format, for callers with `ops.metrics_token` or from an
/// address in `ops.metrics_allow_from` (by default the machine itself).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses(
    (status = 200, description = "Metrics (`application/openmetrics-text; version=1.0.0`)", content_type = "application/openmetrics-text"),
    (status = 401, description = "A token is configured and was not sent"),
    (status = 403, description = "The client's address may not read metrics"),
))]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    metrics_allowed(&req, &state)?;
    let now = state.clock.now_naive();
    let jobs = crate::http::with_conn(&state, move |conn| Ok(job_queue_stats(conn, now)?)).await;
    if let Err(error) = &jobs {
        let cause = error.cause.as_ref().map_or_else(|| error.code.as_str().to_owned(), |c| format!("{c:#}"));
        tracing::warn!(cause, "metrics: the job queue could not be read");
    }
    let pool = state.db.pool.state();
    let snapshot = ScrapeSnapshot {
        process: Some(process_stats()),
        pool: Some(PoolStats { max: state.db.pool.max_size(), open: pool.connections, idle: pool.idle_connections }),
        jobs: jobs.ok(),
    };
    let body = state
        .metrics
        .render(&snapshot)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("metrics encoding failed: {e}")))?;
    Ok(HttpResponse::Ok().content_type(OPENMETRICS_CONTENT_TYPE).body(body))
}

fn metrics_allowed(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let ops = &state.config.ops;
    if let Some(expected) = &ops.metrics_token {
        let given = crate::http::auth::bearer_token(req);
        // Digests compared, so the comparison takes as long whatever the token.
        if given.is_some_and(|t| Sha256::digest(t.as_bytes()) == Sha256::digest(expected.expose_secret().as_bytes())) {
            return Ok(());
        }
    }
    let client = crate::http::auth::client_ip(req, state.config.http.trust_forwarded_for);
    let allowed = client
        .parse::<IpAddr>()
        .is_ok_and(|ip| ops.metrics_allow_from.iter().filter_map(|r| AddressRange::parse(r)).any(|r| r.contains(ip)));
    if allowed {
        return Ok(());
    }
    if ops.metrics_token.is_some() {
        Err(ApiError::new(ErrorCode::Unauthenticated).with_detail("send Authorization: Bearer <ops.metrics_token>"))
    } else {
        Err(ApiError::forbidden("metrics are served to the addresses in ops.metrics_allow_from"))
    }
}
