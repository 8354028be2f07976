//! The middleware every request passes: request ids, body deadlines, the access log, privacy
//! headers and request metrics.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, web};
use futures_util::Stream;
use tracing::Instrument;

use super::request_context::{RequestId, RequestUser, X_REQUEST_ID, incoming_request_id};
use crate::http::{ApiError, ErrorCode};
use crate::state::AppState;

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
