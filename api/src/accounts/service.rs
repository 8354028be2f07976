use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Role;
use terren_contract::auth::{AgencyRef, Me};
use terren_contract::identifications::PersonRef;
use terren_contract::problem::FieldErrorCode;
use terren_contract::users::{ChangePasswordRequest, CreateUserRequest, User};
use uuid::Uuid;

use crate::ids::{AgencyId, parse_uuid};

use super::model::{self, AgencyBrief, UserRow, normalize_username};
use crate::access::AuthUser;
use crate::audit::{self, Actor};
use crate::auth::permissions::is_privileged;
use crate::clock::to_utc;
use crate::db::schema::{agencies, sessions, user_roles, users};
use crate::db::{DbConnection, PooledConn, backend};
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;

pub fn agency_ref(brief: &AgencyBrief) -> ApiResult<AgencyRef> {
    Ok(AgencyRef { id: brief.id.uuid()?, code: brief.code.clone(), name: brief.name.clone() })
}

/// An agency by id, as the API names it.
pub fn agency_ref_of(conn: &mut DbConnection, agency_id: &AgencyId) -> ApiResult<AgencyRef> {
    agency_ref(&model::agency_brief(conn, agency_id)?)
}

/// A person by id, as the API names them.
pub fn person_ref(conn: &mut DbConnection, user_id: &str) -> ApiResult<PersonRef> {
    let display_name: String = users::table.find(user_id).select(users::display_name).get_result(conn)?;
    Ok(PersonRef { id: parse_uuid(user_id)?, display_name })
}

/// Several people by id, in one query.
pub fn person_refs(conn: &mut DbConnection, user_ids: &BTreeSet<String>) -> ApiResult<HashMap<String, PersonRef>> {
    let rows: Vec<(String, String)> =
        users::table.filter(users::id.eq_any(user_ids)).select((users::id, users::display_name)).load(conn)?;
    rows.into_iter()
        .map(|(id, display_name)| Ok((id.clone(), PersonRef { id: parse_uuid(&id)?, display_name })))
        .collect()
}

pub fn me(user: &AuthUser) -> ApiResult<Me> {
    Ok(Me {
        id: parse_uuid(&user.user_id)?,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        agency: agency_ref(&user.agency)?,
        roles: user.roles.iter().copied().collect(),
        permissions: user.permissions.iter().copied().collect(),
        area_codes: if user.national_scope() {
            Vec::new()
        } else {
            user.areas.iter().map(|(_, code)| code.clone()).collect()
        },
        national_scope: user.national_scope(),
        must_change_password: user.must_change_password,
        session_id: parse_uuid(&user.session_id)?,
        device_id: user.device_id.clone(),
    })
}

fn user_dto(conn: &mut DbConnection, row: UserRow) -> ApiResult<User> {
    let roles = model::roles_of(conn, &row.id)?;
    let agency = model::agency_brief(conn, &row.agency_id)?;
    Ok(User {
        id: parse_uuid(&row.id)?,
        username: row.username,
        display_name: row.display_name,
        agency: agency_ref(&agency)?,
        roles: roles.into_iter().collect(),
        phone: row.phone,
        email: row.email,
        disabled: row.disabled_at.is_some(),
        disabled_at: row.disabled_at.map(to_utc),
        must_change_password: row.must_change_password,
        created_at: to_utc(row.created_at),
        updated_at: to_utc(row.updated_at),
    })
}

fn valid_username(username: &str) -> bool {
    username.len() >= 3
        && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Who may manage users of which agency: system admins everywhere, agency admins at home.
fn ensure_may_manage(actor: Option<&AuthUser>, agency_id: &AgencyId) -> ApiResult<()> {
    match actor {
        None => Ok(()),
        Some(actor) => {
            actor.require(terren_contract::Permission::UsersManage)?;
            if actor.is_system_admin() || actor.agency.id == *agency_id {
                Ok(())
            } else {
                Err(ApiError::forbidden("you may only manage users of your own agency"))
            }
        }
    }
}

/// Creates a user. `actor` is `None` for the command line, which acts as the system.
pub fn create_user(
    state: &AppState,
    conn: &mut PooledConn,
    actor: Option<&AuthUser>,
    request: &CreateUserRequest,
) -> ApiResult<User> {
    let username = normalize_username(&request.username);
    if !valid_username(&username) {
        return Err(ApiError::field(
            "username",
            FieldErrorCode::InvalidFormat,
            "use lower-case letters, digits, '.', '_' or '-'",
        ));
    }
    let roles: BTreeSet<Role> = request.roles.iter().copied().collect();
    if let Some(actor) = actor
        && !actor.is_system_admin()
        && let Some(role) = roles.iter().find(|r| is_privileged(**r))
    {
        return Err(ApiError::forbidden(format!("only a system administrator may grant {}", role.as_str())));
    }
    let agency_id: AgencyId = agencies::table
        .filter(agencies::code.eq(&request.agency_code))
        .select(agencies::id)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| {
            ApiError::field(
                "agency_code",
                FieldErrorCode::UnknownAgency,
                format!("no agency with code {}", request.agency_code),
            )
        })?;
    ensure_may_manage(actor, &agency_id)?;
    let password_hash = state.passwords.hash(&request.password)?;
    let at = state.clock.now_naive();
    let row = UserRow {
        id: Uuid::now_v7().to_string(),
        username,
        display_name: request.display_name.trim().to_owned(),
        agency_id,
        phone: request.phone.clone(),
        email: request.email.clone(),
        password_hash,
        // A person given a password by someone else must choose their own.
        must_change_password: actor.is_some(),
        disabled_at: None,
        password_changed_at: at,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    let audit_actor = actor.map_or_else(Actor::system, AuthUser::actor);
    backend::write_transaction(conn, |tx| {
        if model::find_user_by_username(tx, &row.username)?.is_some() {
            return Err(ApiError::new(crate::http::ErrorCode::AlreadyExists)
                .with_detail(format!("the username {} is taken", row.username)));
        }
        diesel::insert_into(users::table).values(&row).execute(tx.conn())?;
        for role in &roles {
            diesel::insert_into(user_roles::table)
                .values((user_roles::user_id.eq(&row.id), user_roles::role.eq(role.as_str())))
                .execute(tx.conn())?;
        }
        audit::record(
            tx,
            &audit_actor,
            at,
            "user.create",
            "user",
            &row.id,
            serde_json::json!({ "username": row.username, "agency_id": row.agency_id, "roles": roles }),
        )?;
        user_dto(tx, row.clone())
    })
}

fn load_managed_user(conn: &mut DbConnection, actor: &AuthUser, user_id: &str) -> ApiResult<UserRow> {
    let row = model::find_user(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    if ensure_may_manage(Some(actor), &row.agency_id).is_err() {
        // Someone else's agency: do not reveal that the user exists.
        actor.require(terren_contract::Permission::UsersManage)?;
        return Err(ApiError::not_found("user"));
    }
    // An agency admin must not reset or disable an account holding a role they could not grant
    // (a system administrator of the same agency, say): that would be a way up.
    if !actor.is_system_admin() && model::roles_of(conn, &row.id)?.into_iter().any(is_privileged) {
        return Err(ApiError::forbidden("only a system administrator may manage this account"));
    }
    Ok(row)
}

pub fn get_user(conn: &mut DbConnection, actor: &AuthUser, user_id: &str) -> ApiResult<User> {
    let row = load_managed_user(conn, actor, user_id)?;
    user_dto(conn, row)
}

pub fn list_users(conn: &mut DbConnection, actor: &AuthUser, agency_code: Option<&str>) -> ApiResult<Vec<User>> {
    actor.require(terren_contract::Permission::UsersManage)?;
    let mut query = users::table.inner_join(agencies::table).select(UserRow::as_select()).into_boxed();
    if !actor.is_system_admin() {
        query = query.filter(users::agency_id.eq(actor.agency.id.clone()));
    }
    if let Some(code) = agency_code {
        query = query.filter(agencies::code.eq(code.to_owned()));
    }
    let mut rows: Vec<UserRow> = query.load(conn)?;
    // Byte order, the same on both backends.
    rows.sort_by(|a, b| a.username.cmp(&b.username));
    rows.into_iter().map(|row| user_dto(conn, row)).collect()
}

/// Disables or re-enables a user. Disabling ends every session at once.
pub fn set_disabled(
    state: &AppState,
    conn: &mut PooledConn,
    actor: &AuthUser,
    user_id: &str,
    disabled: bool,
) -> ApiResult<User> {
    let at = state.clock.now_naive();
    backend::write_transaction(conn, |tx| {
        let row = load_managed_user(tx, actor, user_id)?;
        if disabled && row.id == actor.user_id {
            return Err(ApiError::conflict("you cannot disable your own account"));
        }
        let disabled_at: Option<NaiveDateTime> = if disabled { row.disabled_at.or(Some(at)) } else { None };
        diesel::update(users::table.find(&row.id))
            .set((users::disabled_at.eq(disabled_at), users::updated_at.eq(at), users::version.eq(row.version + 1)))
            .execute(tx.conn())?;
        let ended = if disabled { model::revoke_user_sessions(tx, &row.id, "user_disabled", at)? } else { 0 };
        let action = if disabled { "user.disable" } else { "user.enable" };
        audit::record(tx, &actor.actor(), at, action, "user", &row.id, serde_json::json!({ "sessions_ended": ended }))?;
        let row = model::find_user(tx, &row.id)?.ok_or_else(|| ApiError::not_found("user"))?;
        user_dto(tx, row)
    })
}

/// Sets a temporary password; the user's sessions end and they must choose a new one.
pub fn reset_password(
    state: &AppState,
    conn: &mut PooledConn,
    actor: &AuthUser,
    user_id: &str,
    password: &str,
) -> ApiResult<()> {
    let at = state.clock.now_naive();
    let hash = state.passwords.hash(password)?;
    backend::write_transaction(conn, |tx| {
        let row = load_managed_user(tx, actor, user_id)?;
        // A reset skips the current password: one's own goes through /me/password, which asks
        // for it (and is throttled), so that a stolen session cannot take over the account.
        if row.id == actor.user_id {
            return Err(ApiError::forbidden("change your own password with POST /api/v1/me/password"));
        }
        diesel::update(users::table.find(&row.id))
            .set((
                users::password_hash.eq(&hash),
                users::must_change_password.eq(true),
                users::password_changed_at.eq(at),
                users::updated_at.eq(at),
                users::version.eq(row.version + 1),
            ))
            .execute(tx.conn())?;
        let ended = model::revoke_user_sessions(tx, &row.id, "password_reset", at)?;
        audit::record(
            tx,
            &actor.actor(),
            at,
            "user.reset_password",
            "user",
            &row.id,
            serde_json::json!({ "sessions_ended": ended }),
        )?;
        Ok(())
    })
}

pub fn change_password(
    state: &AppState,
    conn: &mut PooledConn,
    user: &AuthUser,
    request: &ChangePasswordRequest,
) -> ApiResult<()> {
    let row = model::find_user(conn, &user.user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    // Guessing the current password from a signed-in session is throttled like logging in.
    let attempted_at = state.clock.now();
    state.throttle.begin_attempt(&row.username, &user.ip, attempted_at).map_err(crate::auth::throttle::too_many)?;
    if !state.passwords.verify(&request.current_password, &row.password_hash) {
        tracing::info!(account = %row.username, ip = %user.ip, "wrong current password");
        return Err(ApiError::field(
            "current_password",
            FieldErrorCode::WrongPassword,
            "the current password is wrong",
        ));
    }
    state.throttle.record_success(&row.username, &user.ip, attempted_at);
    if request.new_password == request.current_password {
        return Err(ApiError::field(
            "new_password",
            FieldErrorCode::Unchanged,
            "choose a password different from the current one",
        ));
    }
    let hash = state.passwords.hash(&request.new_password)?;
    let at = state.clock.now_naive();
    backend::write_transaction(conn, |tx| {
        diesel::update(users::table.find(&row.id))
            .set((
                users::password_hash.eq(&hash),
                users::must_change_password.eq(false),
                users::password_changed_at.eq(at),
                users::updated_at.eq(at),
                users::version.eq(row.version + 1),
            ))
            .execute(tx.conn())?;
        diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(&row.id))
                .filter(sessions::id.ne(&user.session_id))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((sessions::revoked_at.eq(at), sessions::revoked_reason.eq("password_changed")))
        .execute(tx.conn())?;
        audit::record(tx, &user.actor(), at, "user.change_password", "user", &row.id, serde_json::json!({}))?;
        Ok(())
    })
}

/// Whether a lockout's account is one the administrator manages (any for system administrators;
/// address-wide lockouts only for them).
fn manages_lockout(conn: &mut DbConnection, actor: &AuthUser, username: Option<&str>) -> ApiResult<bool> {
    if actor.is_system_admin() {
        return Ok(true);
    }
    let Some(username) = username else { return Ok(false) };
    let row = model::find_user_by_username(conn, username)?;
    Ok(row.is_some_and(|row| row.agency_id == actor.agency.id))
}

pub fn list_lockouts(
    state: &AppState,
    conn: &mut PooledConn,
    actor: &AuthUser,
) -> ApiResult<Vec<terren_contract::users::Lockout>> {
    actor.require(terren_contract::Permission::UsersManage)?;
    let now = state.clock.now();
    let mut out = Vec::new();
    for lockout in state.throttle.lockouts(now) {
        if manages_lockout(conn, actor, lockout.account.as_deref())? {
            out.push(terren_contract::users::Lockout {
                username: lockout.account,
                address: lockout.address,
                failures: lockout.failures,
                until: lockout.until,
            });
        }
    }
    let count = out.len();
    backend::write_transaction(conn, |tx| {
        audit::record(
            tx,
            &actor.actor(),
            crate::clock::truncate(now),
            "auth.lockouts_read",
            "lockout",
            "list",
            serde_json::json!({ "count": count }),
        )
    })?;
    Ok(out)
}

pub fn lift_lockout(
    state: &AppState,
    conn: &mut PooledConn,
    actor: &AuthUser,
    request: &terren_contract::users::LiftLockout,
) -> ApiResult<()> {
    actor.require(terren_contract::Permission::UsersManage)?;
    let username = request.username.as_deref().map(model::normalize_username);
    if !manages_lockout(conn, actor, username.as_deref())? {
        return Err(ApiError::not_found("lockout"));
    }
    let now = state.clock.now();
    if !state.throttle.lift(username.as_deref(), &request.address, now) {
        return Err(ApiError::not_found("lockout"));
    }
    backend::write_transaction(conn, |tx| {
        audit::record(
            tx,
            &actor.actor(),
            crate::clock::truncate(now),
            "auth.lockout_lift",
            "lockout",
            username.as_deref().unwrap_or("address"),
            serde_json::json!({ "username": username, "address": request.address }),
        )
    })?;
    Ok(())
}
