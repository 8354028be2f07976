//! Login, refresh-token rotation with reuse detection, logout.

use std::sync::Arc;

use actix_web::web;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::auth::{LoginRequest, TokenResponse, TokenType};
use uuid::Uuid;

use crate::accounts::model::{self, SessionRow, normalize_username};
use crate::audit::{self, Actor};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::clock::to_utc;
use crate::db::schema::{refresh_tokens, sessions};
use crate::db::{PooledConn, Tx, backend};
use crate::http::{ApiError, ApiResult, ErrorCode, with_conn};
use crate::state::AppState;

/// Where a request came from, for sessions, throttling and the audit log.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

/// Logs a person in. The attempt counts against the throttle before the password is checked,
/// and no database connection is held while argon2 works.
pub async fn login(state: Arc<AppState>, request: LoginRequest, client: ClientInfo) -> ApiResult<TokenResponse> {
    let attempted_at = state.clock.now();
    let account = normalize_username(&request.username);
    state.throttle.begin_attempt(&account, &client.ip, attempted_at).map_err(super::throttle::too_many)?;
    let lookup = account.clone();
    let user = with_conn(&state, move |conn| Ok(model::find_user_by_username(conn, &lookup)?)).await?;
    let verifier = state.clone();
    let password = request.password.clone();
    let user = web::block(move || {
        let verified = match &user {
            Some(user) => verifier.passwords.verify(&password, &user.password_hash) && user.disabled_at.is_none(),
            None => {
                verifier.passwords.verify_dummy(&password);
                false
            }
        };
        user.filter(|_| verified)
    })
    .await?;
    let Some(user) = user else {
        tracing::info!(account = %account, ip = %client.ip, "login failed");
        return Err(ApiError::new(ErrorCode::InvalidCredentials));
    };
    state.throttle.record_success(&account, &client.ip, attempted_at);
    let session_state = state.clone();
    with_conn(&state, move |conn| open_session(&session_state, conn, &user.id, &request.device_id, &client)).await
}

fn open_session(
    state: &AppState,
    conn: &mut PooledConn,
    user_id: &str,
    device_id: &str,
    client: &ClientInfo,
) -> ApiResult<TokenResponse> {
    let at = state.clock.now_naive();
    let session = SessionRow {
        id: Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
        user_agent: client.user_agent.clone(),
        ip: Some(client.ip.clone()),
        created_at: at,
        last_used_at: at,
        expires_at: at + Duration::days(state.config.auth.session_max_days),
        revoked_at: None,
        revoked_reason: None,
    };
    let actor =
        Actor { user_id: Some(user_id.to_owned()), device_id: Some(device_id.to_owned()), ip: Some(client.ip.clone()) };
    backend::write_transaction(conn, |tx| {
        diesel::insert_into(sessions::table).values(&session).execute(tx.conn())?;
        let response = issue_tokens(state, tx, user_id, &session, at)?;
        audit::record(tx, &actor, at, "auth.login", "user", user_id, serde_json::json!({ "session_id": session.id }))?;
        Ok(response)
    })
}

/// Exchanges a refresh token for new tokens. A token that was already used ends its session:
/// someone else may hold a copy.
pub fn refresh(
    state: &AppState,
    conn: &mut PooledConn,
    presented: &str,
    client: &ClientInfo,
) -> ApiResult<TokenResponse> {
    let at = state.clock.now_naive();
    let hash = hash_refresh_token(presented);
    let outcome = backend::write_transaction(conn, |tx| -> ApiResult<Result<TokenResponse, ApiError>> {
        let Some((token_session, expires_at, used_at)) = refresh_tokens::table
            .find(&hash)
            .select((refresh_tokens::session_id, refresh_tokens::expires_at, refresh_tokens::used_at))
            .get_result::<(String, NaiveDateTime, Option<NaiveDateTime>)>(tx.conn())
            .optional()?
        else {
            return Ok(Err(ApiError::new(ErrorCode::InvalidToken)));
        };
        let session = model::find_session(tx, &token_session)?.ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
        let actor = Actor {
            user_id: Some(session.user_id.clone()),
            device_id: Some(session.device_id.clone()),
            ip: Some(client.ip.clone()),
        };
        if session.revoked_at.is_some() || session.expires_at <= at {
            return Ok(Err(ApiError::new(ErrorCode::InvalidToken)));
        }
        // Mark used only if nobody else did: two concurrent refreshes cannot both win.
        let claimed = used_at.is_none()
            && diesel::update(refresh_tokens::table.find(&hash).filter(refresh_tokens::used_at.is_null()))
                .set(refresh_tokens::used_at.eq(at))
                .execute(tx.conn())?
                == 1;
        if !claimed {
            model::revoke_session(tx, &session.id, "refresh_token_reused", at)?;
            audit::record(tx, &actor, at, "auth.refresh_token_reused", "session", &session.id, serde_json::json!({}))?;
            return Ok(Err(ApiError::new(ErrorCode::RefreshTokenReused)));
        }
        if expires_at <= at {
            return Ok(Err(ApiError::new(ErrorCode::InvalidToken)));
        }
        let user = model::find_user(tx, &session.user_id)?.ok_or_else(|| ApiError::new(ErrorCode::InvalidToken))?;
        if user.disabled_at.is_some() {
            return Ok(Err(ApiError::new(ErrorCode::InvalidToken)));
        }
        diesel::update(sessions::table.find(&session.id)).set(sessions::last_used_at.eq(at)).execute(tx.conn())?;
        Ok(Ok(issue_tokens(state, tx, &user.id, &session, at)?))
    })?;
    // The revocation above must be committed even though the caller gets an error.
    outcome
}

/// Ends the session the refresh token belongs to. Unknown tokens are ignored (logging out twice
/// is not an error).
pub fn logout(state: &AppState, conn: &mut PooledConn, presented: &str, client: &ClientInfo) -> ApiResult<()> {
    let at = state.clock.now_naive();
    let hash = hash_refresh_token(presented);
    backend::write_transaction(conn, |tx| {
        let session_id: Option<String> =
            refresh_tokens::table.find(&hash).select(refresh_tokens::session_id).get_result(tx.conn()).optional()?;
        let Some(session) = session_id.map(|id| model::find_session(tx, &id)).transpose()?.flatten() else {
            return Ok(());
        };
        if model::revoke_session(tx, &session.id, "logout", at)? == 1 {
            let actor = Actor {
                user_id: Some(session.user_id.clone()),
                device_id: Some(session.device_id.clone()),
                ip: Some(client.ip.clone()),
            };
            audit::record(tx, &actor, at, "auth.logout", "session", &session.id, serde_json::json!({}))?;
        }
        Ok(())
    })
}

fn issue_tokens(
    state: &AppState,
    tx: &mut Tx<'_>,
    user_id: &str,
    session: &SessionRow,
    at: NaiveDateTime,
) -> ApiResult<TokenResponse> {
    let (refresh_token, refresh_hash) = new_refresh_token()?;
    let refresh_expires = (at + Duration::days(state.config.auth.refresh_token_ttl_days)).min(session.expires_at);
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(&refresh_hash),
            refresh_tokens::session_id.eq(&session.id),
            refresh_tokens::created_at.eq(at),
            refresh_tokens::expires_at.eq(refresh_expires),
        ))
        .execute(tx.conn())?;
    let access_token = state.tokens.issue(user_id, &session.id, to_utc(at))?;
    Ok(TokenResponse {
        access_token,
        token_type: TokenType::Bearer,
        expires_in: state.tokens.access_ttl_secs,
        refresh_token,
        refresh_expires_at: to_utc(refresh_expires),
        session_id: session.id.parse().map_err(|e| ApiError::internal(anyhow::anyhow!("bad session id: {e}")))?,
        lifeline: crate::lifeline::keys::enrolment(state.config.lifeline(), &state.lifeline_keys, &session.id),
    })
}
