//! Reading the signed-in person behind a request ([`AuthUser`]) from its bearer token, checked
//! against the database on every request (one query: the session, its user and agency) so that
//! disabling a user or ending a session takes effect at once; roles and areas come from
//! [`crate::access::caller_cache::CallerCache`] while their versions are unchanged.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::problem::{ApiError, ErrorCode};
use crate::access::AuthUser;
use crate::accounts::model;
use crate::state::AppState;

/// Paths a person who must change their password may still use.
const ALLOWED_BEFORE_PASSWORD_CHANGE: [&str; 3] = ["/api/v1/me", "/api/v1/me/password", "/api/v1/auth/logout"];

/// The client address used for throttling and audit: the peer, or, behind one trusted proxy,
/// the address that proxy appended to `X-Forwarded-For`. Only the right-most entry is the
/// proxy's own observation; anything to its left was sent by the client and may be forged.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(forwarded) = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next().map(str::trim).filter(|s| !s.is_empty())
    {
        return last.to_owned();
    }
    req.peer_addr().map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string())
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned()).filter(|t| !t.is_empty())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let path = req.path().to_owned();
        let ip = state.as_ref().map(|s| client_ip(req, s.config.http.trust_forwarded_for)).unwrap_or_default();
        let request = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
            let token = token.ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthenticated).with_detail("send Authorization: Bearer <access token>")
            })?;
            let claims = state
                .tokens
                .verify(&token, state.clock.now())
                .map_err(|e| ApiError::new(ErrorCode::InvalidToken).with_detail(e.to_string()))?;
            let now = state.clock.now_naive();
            let callers = state.callers.clone();
            let user = super::with_conn(&state, move |conn| {
                let invalid = || ApiError::new(ErrorCode::InvalidToken);
                let (session, user, agency, agency_version) =
                    model::find_session_with_user(conn, &claims.sid)?.ok_or_else(invalid)?;
                if session.user_id != claims.sub || session.revoked_at.is_some() || session.expires_at <= now {
                    return Err(invalid().with_detail("the session has ended"));
                }
                if user.disabled_at.is_some() {
                    return Err(invalid().with_detail("the account is disabled"));
                }
                AuthUser::of_session(conn, &callers, session, user, agency, agency_version, ip)
            })
            .await?;
            request.extensions_mut().insert(crate::ops::request_context::RequestUser(user.user_id.to_string()));
            if user.must_change_password && !ALLOWED_BEFORE_PASSWORD_CHANGE.contains(&path.as_str()) {
                return Err(ApiError::new(ErrorCode::PasswordChangeRequired)
                    .with_detail("change the temporary password with POST /api/v1/me/password"));
            }
            Ok(user)
        })
    }
}
