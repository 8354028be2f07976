use actix_web::{HttpRequest, HttpResponse, web};
use terren_contract::auth::{LoginRequest, LogoutRequest, Me, RefreshRequest, TokenResponse};
use terren_contract::users::ChangePasswordRequest;

use super::service::{self, ClientInfo};
use crate::access::AuthUser;
use crate::accounts;
use crate::http::auth::client_ip;
use crate::http::{ApiResult, ValidJson, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/me").route(web::get().to(me)))
        .service(web::resource("/me/password").route(web::post().to(change_password)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(login, refresh, logout, me, change_password))]
pub struct AuthApi;

fn client_info(req: &HttpRequest, state: &AppState) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req, state.config.http.trust_forwarded_for),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}

/// Log in with username and password; returns an access token (≤ 15 min) and a single-use
/// refresh token bound to this device.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong username or password, or account disabled (`invalid_credentials`)"),
        (status = 422, description = "Invalid request"),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`, see `Retry-After`)"),
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<LoginRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let client = client_info(&req, &state);
    Ok(web::Json(service::login(state.into_inner(), body.0, client).await?))
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting a used
/// one ends the session (`refresh_token_reused`).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", security(()),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "`invalid_token` or `refresh_token_reused`"),
    )
)]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<RefreshRequest>,
) -> ApiResult<web::Json<TokenResponse>> {
    let client = client_info(&req, &state);
    let state = state.into_inner();
    let response =
        with_conn(&state.clone(), move |conn| service::refresh(&state, conn, &body.0.refresh_token, &client)).await?;
    Ok(web::Json(response))
}

/// End the session of this refresh token. Logging out twice is not an error.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth", security(()),
    request_body = LogoutRequest,
    responses((status = 204, description = "Session ended"))
)]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ValidJson<LogoutRequest>,
) -> ApiResult<HttpResponse> {
    let client = client_info(&req, &state);
    let state = state.into_inner();
    with_conn(&state.clone(), move |conn| service::logout(&state, conn, &body.0.refresh_token, &client)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who am I: account, agency, roles, permissions and data scope.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The signed-in person", body = Me),
        (status = 401, description = "Missing, invalid or expired token"),
    )
)]
pub async fn me(user: AuthUser) -> ApiResult<web::Json<Me>> {
    Ok(web::Json(accounts::service::me(&user)?))
}

/// Change my password. Other sessions of mine end; this one stays.
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 422, description = "Wrong current password (`current_password`) or weak new one"),
    )
)]
pub async fn change_password(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let state = state.into_inner();
    with_conn(&state.clone(), move |conn| accounts::service::change_password(&state, conn, &user, &body.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}
