use actix_web::{HttpResponse, web};
use serde::Deserialize;
use terren_contract::users::{CreateUserRequest, LiftLockout, Lockout, ResetPasswordRequest, User};
use utoipa::IntoParams;
use uuid::Uuid;

use super::service;
use crate::access::AuthUser;
use crate::http::paths::UserPath;
use crate::http::{ApiResult, ValidJson, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(web::get().to(list_users)).route(web::post().to(create_user)))
        .service(web::resource("/users/{id}").route(web::get().to(get_user)))
        .service(web::resource("/users/{id}/disable").route(web::post().to(disable_user)))
        .service(web::resource("/users/{id}/enable").route(web::post().to(enable_user)))
        .service(web::resource("/users/{id}/reset-password").route(web::post().to(reset_password)))
        .service(web::resource("/lockouts").route(web::get().to(list_lockouts)))
        .service(web::resource("/lockouts/lift").route(web::post().to(lift_lockout)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_user,
    list_users,
    get_user,
    disable_user,
    enable_user,
    reset_password,
    list_lockouts,
    lift_lockout
))]
pub struct AccountsApi;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Only users of this agency (code).
    pub agency: Option<String>,
}

/// Create a user in an agency with roles. Agency admins create users of their own agency only;
/// `system_admin` and `national_viewer` may only be granted by a system administrator.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created; the user must change the password at first login", body = User),
        (status = 403, description = "Not permitted"),
        (status = 409, description = "Username taken (`already_exists`)"),
        (status = 422, description = "Invalid request"),
    )
)]
pub async fn create_user(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let state = state.into_inner();
    let created =
        with_conn(&state.clone(), move |conn| service::create_user(&state, conn, Some(&user), &body.0)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// List users (own agency for agency admins).
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    params(UserListQuery),
    responses((status = 200, description = "Users", body = Vec<User>))
)]
pub async fn list_users(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<UserListQuery>,
) -> ApiResult<web::Json<Vec<User>>> {
    let users = with_conn(&state, move |conn| service::list_users(conn, &user, query.agency.as_deref())).await?;
    Ok(web::Json(users))
}

#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users",
    params(UserPath),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user in your scope"),
    )
)]
pub async fn get_user(user: AuthUser, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<web::Json<User>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(with_conn(&state, move |conn| service::get_user(conn, &user, &id)).await?))
}

/// Disable a user: every session ends at once and access tokens stop working.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(UserPath),
    responses((status = 200, description = "Disabled", body = User))
)]
pub async fn disable_user(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    set_disabled(user, state, id.into_inner(), true).await
}

#[utoipa::path(
    post, path = "/api/v1/users/{id}/enable", tag = "users",
    params(UserPath),
    responses((status = 200, description = "Enabled", body = User))
)]
pub async fn enable_user(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<User>> {
    set_disabled(user, state, id.into_inner(), false).await
}

async fn set_disabled(
    user: AuthUser,
    state: web::Data<AppState>,
    id: Uuid,
    disabled: bool,
) -> ApiResult<web::Json<User>> {
    let state = state.into_inner();
    let id = id.to_string();
    let updated =
        with_conn(&state.clone(), move |conn| service::set_disabled(&state, conn, &user, &id, disabled)).await?;
    Ok(web::Json(updated))
}

/// Set a temporary password; the user's sessions end and they must change it at next login. Your
/// own password is changed with `POST /api/v1/me/password` (403 here).
#[utoipa::path(
    post, path = "/api/v1/users/{id}/reset-password", tag = "users",
    params(UserPath),
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password reset"),
        (status = 403, description = "Not permitted, or your own account"),
    )
)]
pub async fn reset_password(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ResetPasswordRequest>,
) -> ApiResult<HttpResponse> {
    let state = state.into_inner();
    let id = id.into_inner().to_string();
    with_conn(&state.clone(), move |conn| service::reset_password(&state, conn, &user, &id, &body.0.password)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Password guesses being held back now (`users_manage`): accounts of your agency per address,
/// and for system administrators every account and every address held back. Audited.
#[utoipa::path(
    get, path = "/api/v1/lockouts", tag = "users",
    responses((status = 200, description = "Current lockouts", body = Vec<Lockout>))
)]
pub async fn list_lockouts(user: AuthUser, state: web::Data<AppState>) -> ApiResult<web::Json<Vec<Lockout>>> {
    let state = state.into_inner();
    Ok(web::Json(with_conn(&state.clone(), move |conn| service::list_lockouts(&state, conn, &user)).await?))
}

/// Lift a lockout (`users_manage`; an account of your agency, or any and any address for system
/// administrators). Audited. 404 when there is nothing of yours to lift.
#[utoipa::path(
    post, path = "/api/v1/lockouts/lift", tag = "users",
    request_body = LiftLockout,
    responses(
        (status = 204, description = "Lifted"),
        (status = 404, description = "No such lockout within your agency"),
    )
)]
pub async fn lift_lockout(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<LiftLockout>,
) -> ApiResult<HttpResponse> {
    let state = state.into_inner();
    with_conn(&state.clone(), move |conn| service::lift_lockout(&state, conn, &user, &body.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}
