//! Seen from outside: liveness, readiness, OpenMetrics, the access log with request ids, the
//! headers every response carries, and a deadline for request bodies.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use futures_util::Stream;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::db::DbConnection;
use crate::db::schema::outbox_jobs;
use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;

/// What `/metrics` answers with: the OpenMetrics text format `prometheus-client` writes.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    notifications: Family<NotificationLabels, Counter>,
    notification_retries: Family<ChannelLabels, Counter>,
    alerts_unreachable: Counter,
}

fn request_histogram() -> Histogram {
    // 0.5 ms … ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("terren");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily = Family::new_with_constructor(request_histogram);
        let notifications = Family::<NotificationLabels, Counter>::default();
        let notification_retries = Family::<ChannelLabels, Counter>::default();
        let alerts_unreachable = Counter::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", durations.clone());
        registry.register(
            "notifications",
            "Notification attempts by channel and outcome (delivered, failed, invalid_address)",
            notifications.clone(),
        );
        registry.register(
            "notification_retries",
            "Notification attempts that were retries",
            notification_retries.clone(),
        );
        registry.register(
            "alerts_unreachable",
            "Alerts for which every escalation step ran out without anyone reached",
            alerts_unreachable.clone(),
        );
        Metrics { registry, requests, durations, notifications, notification_retries, alerts_unreachable }
    }
}

/// What `/metrics` reads at scrape time besides the counters kept in memory.
#[derive(Debug, Default, Clone)]
pub struct ScrapeSnapshot {
    pub process: Option<ProcessStats>,
    pub pool: Option<PoolStats>,
    /// `None` when the database could not be asked.
    pub jobs: Option<JobQueueStats>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PoolStats {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct JobQueueStats {
    pub due: i64,
    pub running: i64,
    pub failed: i64,
    pub oldest_due_age_seconds: f64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessStats {
    pub resident_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { method: method.into(), route: route.into(), status }).inc();
        self.durations.get_or_create(&RouteLabels { method: method.into(), route: route.into() }).observe(seconds);
    }

    /// One attempt to reach someone on `channel` (push, sms, webhook) ended with `outcome`:
    /// `delivered`, `failed` or `invalid_address`.
    pub fn notification_attempt(&self, channel: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotificationLabels { channel: channel.into(), outcome: outcome.into() })
            .inc();
    }

    /// An attempt on `channel` was a retry of one that failed.
    pub fn notification_retried(&self, channel: &str) {
        self.notification_retries.get_or_create(&ChannelLabels { channel: channel.into() }).inc();
    }

    /// An alert ran out of escalation steps without reaching anyone.
    pub fn alert_unreachable(&self) {
        self.alerts_unreachable.inc();
    }

    /// The counters kept in memory, then what the snapshot read, in the OpenMetrics text format.
    pub fn render(&self, snapshot: &ScrapeSnapshot) -> Result<String, std::fmt::Error> {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)?;
        encode_registry(&mut out, &snapshot_registry(snapshot))?;
        encode_registry(&mut out, &process_registry(snapshot.process.as_ref()))?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

fn snapshot_registry(snapshot: &ScrapeSnapshot) -> Registry {
    let mut registry = Registry::with_prefix("terren");
    if let Some(pool) = snapshot.pool {
        registry.register(
            "db_pool_max_connections",
            "Connections the database pool may open",
            ConstGauge::new(i64::from(pool.max)),
        );
        let connections = Family::<StateLabels, prometheus_client::metrics::gauge::Gauge>::default();
        connections.get_or_create(&StateLabels { state: "idle" }).set(i64::from(pool.idle));
        connections.get_or_create(&StateLabels { state: "in_use" }).set(i64::from(pool.open.saturating_sub(pool.idle)));
        registry.register("db_pool_connections", "Open database connections by state", connections);
    }
    registry.register(
        "database_up",
        "1 when the database answered the scrape's query, else 0",
        ConstGauge::new(i64::from(snapshot.jobs.is_some())),
    );
    if let Some(jobs) = snapshot.jobs {
        registry.register("jobs_due", "Jobs due to run and not claimed by a worker", ConstGauge::new(jobs.due));
        registry.register(
            "jobs_running",
            "Jobs claimed by a worker (lease not expired)",
            ConstGauge::new(jobs.running),
        );
        registry.register("jobs_failed", "Unfinished jobs whose last try failed", ConstGauge::new(jobs.failed));
        registry.register(
            "jobs_oldest_due_age_seconds",
            "How long the oldest due job has been waiting (0 when none is due)",
            ConstGauge::<f64>::new(jobs.oldest_due_age_seconds),
        );
    }
    registry
}

/// The conventional `process_*` metrics (no prefix), as client libraries name them.
fn process_registry(process: Option<&ProcessStats>) -> Registry {
    let mut registry = Registry::default();
    let Some(process) = process else { return registry };
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    if let Some(bytes) = process.resident_memory_bytes {
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            ConstGauge::new(as_i64(bytes)),
        );
    }
    if let Some(fds) = process.open_fds {
        registry.register("process_open_fds", "Open file descriptors", ConstGauge::new(as_i64(fds)));
    }
    if let Some(fds) = process.max_fds {
        registry.register("process_max_fds", "Limit of open file descriptors", ConstGauge::new(as_i64(fds)));
    }
    if let Some(seconds) = process.cpu_seconds {
        registry.register(
            "process_cpu_seconds",
            "User and system CPU time spent in seconds",
            ConstCounter::new(seconds),
        );
    }
    if let Some(seconds) = process.start_time_seconds {
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            ConstGauge::<f64>::new(seconds),
        );
    }
    registry
}

/// Reads `/proc/self` (Linux); elsewhere every value is absent.
pub fn process_stats() -> ProcessStats {
    // The kernel reports times in /proc in USER_HZ, which is 100 on every Linux architecture.
    const TICKS_PER_SECOND: f64 = 100.0;
    let mut stats = ProcessStats::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        stats.resident_memory_bytes = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024);
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        stats.open_fds = Some(entries.count() as u64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        stats.max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok());
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        // Counting from `state` (field 3 of proc(5)) as index 0.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        if let (Some(utime), Some(stime)) = (field(14), field(15)) {
            stats.cpu_seconds = Some((utime + stime) / TICKS_PER_SECOND);
        }
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<f64>().ok()));
        if let (Some(start_ticks), Some(boot)) = (field(22), boot_time) {
            stats.start_time_seconds = Some(boot + start_ticks / TICKS_PER_SECOND);
        }
    }
    stats
}

/// The job queue as the worker sees it at `now`.
pub fn job_queue_stats(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<JobQueueStats> {
    let open = || outbox_jobs::table.filter(outbox_jobs::done_at.is_null());
    let not_leased = outbox_jobs::locked_until.is_null().or(outbox_jobs::locked_until.lt(now));
    let due: i64 = open().filter(outbox_jobs::due_at.le(now)).filter(not_leased).count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = open()
        .filter(outbox_jobs::due_at.le(now))
        .filter(not_leased)
        .select(diesel::dsl::min(outbox_jobs::due_at))
        .first(conn)?;
    let running: i64 = open().filter(outbox_jobs::locked_until.ge(now)).count().get_result(conn)?;
    let failed: i64 = open().filter(outbox_jobs::last_error.is_not_null()).count().get_result(conn)?;
    let oldest_due_age_seconds = oldest.map_or(0.0, |due_at| (now - due_at).num_milliseconds().max(0) as f64 / 1000.0);
    Ok(JobQueueStats { due, running, failed, oldest_due_age_seconds })
}

/// Which clients may read `/metrics` without the token: one address or a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    pub fn parse(text: &str) -> Option<AddressRange> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(AddressRange { network: network.to_canonical(), prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

/// The request's id: the caller's `X-Request-Id` when it is a short token, otherwise a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The signed-in user behind a request, once authentication has found them (for the access log).
#[derive(Debug, Clone)]
pub struct RequestUser(pub String);

/// Set when a request body did not arrive within `http.body_read_timeout_ms`, with the
/// connection's unread body.
#[derive(Clone, Default)]
struct BodyTimedOut {
    flag: Rc<Cell<bool>>,
    unread: Rc<RefCell<Option<Payload>>>,
}

/// A 408's body, holding the request's unread body until it has been sent: the server then
/// closes the connection after the answer instead of waiting to read (drain) the rest of a
/// chunked body.
struct WithUnreadBody {
    body: BoxBody,
    _unread: Option<Payload>,
}

impl MessageBody for WithUnreadBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn incoming_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&X_REQUEST_ID)?.to_str().ok()?;
    let sane = (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    sane.then(|| value.to_owned())
}

/// The outermost middleware: gives the request an id, bounds the time its body may take, logs
/// one line when it is answered, and sets the headers every response carries.
pub async fn access_log(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = incoming_request_id(req.headers()).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().to_string();
    let body_deadline = req
        .app_data::<web::Data<AppState>>()
        .map(|state| Duration::from_millis(state.config.http.body_read_timeout_ms));
    let timed_out = BodyTimedOut::default();
    if let Some(limit) = body_deadline {
        let payload = req.take_payload();
        let deadline = DeadlinePayload {
            inner: payload,
            sleep: Box::pin(actix_web::rt::time::sleep(limit)),
            timed_out: timed_out.clone(),
        };
        req.set_payload(Payload::Stream { payload: Box::pin(deadline) });
    }
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!("request", request_id = %request_id);
    let result = next.call(req).instrument(span).await;
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(method = %method, route = "-", status = error.as_response_error().status_code().as_u16(), latency_ms, request_id = %request_id, "request");
            return Err(error);
        }
    };
    let mut response: ServiceResponse<EitherBody<_, WithUnreadBody>> = if timed_out.flag.get() {
        let (request, _) = response.into_parts();
        let mut rendered = actix_web::ResponseError::error_response(
            &ApiError::new(ErrorCode::RequestTimeout).with_detail("the request body did not arrive in time"),
        );
        rendered.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
        let unread = timed_out.unread.borrow_mut().take();
        let rendered = rendered.map_body(|_, body| WithUnreadBody { body, _unread: unread });
        ServiceResponse::new(request, rendered).map_into_right_body()
    } else {
        response.map_into_left_body()
    };
    let request = response.request();
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".into());
    let user = request.extensions().get::<RequestUser>().map(|u| u.0.clone());
    let status = response.status().as_u16();
    let latency_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms,
        request_id = %request_id,
        user = %user.as_deref().unwrap_or("-"),
        "request"
    );
    add_response_headers(response.headers_mut(), &request_id);
    Ok(response)
}

/// Answers are personal data more often than not: never cached, never sniffed, never referred.
fn add_response_headers(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID, value);
    }
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// The request body as a stream that fails once the deadline has passed.
struct DeadlinePayload {
    inner: Payload,
    sleep: Pin<Box<actix_web::rt::time::Sleep>>,
    timed_out: BodyTimedOut,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.timed_out.flag.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.timed_out.flag.set(true);
            let unread = std::mem::replace(&mut self.inner, Payload::None);
            *self.timed_out.unread.borrow_mut() = Some(unread);
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time");
            return Poll::Ready(Some(Err(PayloadError::Io(error))));
        }
        Poll::Pending
    }
}

/// Counts requests by route pattern (never by raw path, which would carry ids).
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        state.metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    }
    Ok(response)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unreachable or migrations pending", body = terren_contract::problem::Problem, content_type = "application/problem+json"),
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
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Metrics (`application/openmetrics-text; version=1.0.0`)", content_type = "application/openmetrics-text"),
    (status = 401, description = "A token is configured and was not sent", body = terren_contract::problem::Problem, content_type = "application/problem+json"),
    (status = 403, description = "The client's address may not read metrics", body = terren_contract::problem::Problem, content_type = "application/problem+json"),
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
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_counters_are_exposed_under_their_names() {
        let metrics = Metrics::default();
        metrics.notification_attempt("sms", "delivered");
        metrics.notification_attempt("sms", "delivered");
        metrics.notification_attempt("push", "invalid_address");
        metrics.notification_attempt("webhook", "failed");
        metrics.notification_retried("sms");
        metrics.alert_unreachable();
        let text = metrics.render(&ScrapeSnapshot::default()).unwrap();
        assert!(text.contains(r#"terren_notifications_total{channel="sms",outcome="delivered"} 2"#), "{text}");
        assert!(text.contains(r#"terren_notifications_total{channel="push",outcome="invalid_address"} 1"#), "{text}");
        assert!(text.contains(r#"terren_notifications_total{channel="webhook",outcome="failed"} 1"#), "{text}");
        assert!(text.contains(r#"terren_notification_retries_total{channel="sms"} 1"#), "{text}");
        assert!(text.contains("terren_alerts_unreachable_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[test]
    fn scrape_time_values_are_exposed() {
        let snapshot = ScrapeSnapshot {
            process: Some(ProcessStats {
                resident_memory_bytes: Some(1024),
                open_fds: Some(12),
                max_fds: Some(1024),
                cpu_seconds: Some(1.5),
                start_time_seconds: Some(1_700_000_000.0),
            }),
            pool: Some(PoolStats { max: 10, open: 4, idle: 3 }),
            jobs: Some(JobQueueStats { due: 2, running: 1, failed: 1, oldest_due_age_seconds: 30.5 }),
        };
        let text = Metrics::default().render(&snapshot).unwrap();
        for line in [
            "terren_jobs_due 2",
            "terren_jobs_running 1",
            "terren_jobs_failed 1",
            "terren_jobs_oldest_due_age_seconds 30.5",
            r#"terren_db_pool_connections{state="idle"} 3"#,
            r#"terren_db_pool_connections{state="in_use"} 1"#,
            "terren_db_pool_max_connections 10",
            "terren_database_up 1",
            "process_resident_memory_bytes 1024",
            "process_open_fds 12",
            "process_cpu_seconds_total 1.5",
            "process_start_time_seconds 1700000000.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        let down = Metrics::default().render(&ScrapeSnapshot::default()).unwrap();
        assert!(down.lines().any(|l| l == "terren_database_up 0"), "{down}");
    }

    #[test]
    fn process_stats_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let stats = process_stats();
            assert!(stats.resident_memory_bytes.is_some_and(|b| b > 0));
            assert!(stats.open_fds.is_some_and(|n| n > 0));
            assert!(stats.cpu_seconds.is_some());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            assert!(stats.start_time_seconds.is_some_and(|s| s > now - 86_400.0 && s <= now + 1.0), "{stats:?}");
        }
    }

    #[test]
    fn address_ranges() {
        let local = AddressRange::parse("127.0.0.1").unwrap();
        assert!(local.contains("127.0.0.1".parse().unwrap()));
        assert!(local.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!local.contains("127.0.0.2".parse().unwrap()));
        let net = AddressRange::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        let v6 = AddressRange::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        assert!(AddressRange::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert_eq!(AddressRange::parse("10.0.0.0/33"), None);
        assert_eq!(AddressRange::parse("localhost"), None);
    }

    #[test]
    fn request_ids_from_callers_are_kept_only_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(incoming_request_id(&headers).as_deref(), Some("abc-123_x.y:z"));
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("a b"));
        assert_eq!(incoming_request_id(&headers), None);
        headers.insert(X_REQUEST_ID, HeaderValue::from_str(&"a".repeat(129)).unwrap());
        assert_eq!(incoming_request_id(&headers), None);
    }
}
