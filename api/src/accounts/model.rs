//! Account rows and the queries the rest of the service needs about people.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Role;

use crate::db::schema::{agencies, agency_areas, areas, sessions, user_roles, users};
use crate::db::{DbConnection, Tx};
use crate::ids::AgencyId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub agency_id: AgencyId,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password_hash: String,
    pub must_change_password: bool,
    pub disabled_at: Option<NaiveDateTime>,
    pub password_changed_at: NaiveDateTime,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub device_id: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
}

/// The short form of an agency carried with a person.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct AgencyBrief {
    pub id: AgencyId,
    pub code: String,
    pub name: String,
}

/// Usernames are compared in lower case.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

pub fn find_user_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(normalize_username(username)))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_user(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).get_result(conn).optional()
}

pub fn roles_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<BTreeSet<Role>> {
    let codes: Vec<String> =
        user_roles::table.filter(user_roles::user_id.eq(user_id)).select(user_roles::role).load(conn)?;
    Ok(codes.iter().filter_map(|code| Role::parse(code)).collect())
}

pub fn agency_brief(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<AgencyBrief> {
    agencies::table.find(agency_id).select((agencies::id, agencies::code, agencies::name)).get_result(conn)
}

/// Ids and codes of the areas an agency serves.
pub fn agency_area_scope(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<Vec<(String, String)>> {
    agency_areas::table
        .inner_join(areas::table)
        .filter(agency_areas::agency_id.eq(agency_id))
        .select((areas::id, areas::code))
        .order(areas::code.asc())
        .load(conn)
}

/// A session with its user, the user's agency and the agency's version, in one query (every
/// authenticated request).
pub fn find_session_with_user(
    conn: &mut DbConnection,
    session_id: &str,
) -> QueryResult<Option<(SessionRow, UserRow, AgencyBrief, i32)>> {
    sessions::table
        .inner_join(users::table)
        .inner_join(agencies::table.on(agencies::id.eq(users::agency_id)))
        .filter(sessions::id.eq(session_id))
        .select((
            SessionRow::as_select(),
            UserRow::as_select(),
            (agencies::id, agencies::code, agencies::name),
            agencies::version,
        ))
        .get_result(conn)
        .optional()
}

pub fn find_session(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    sessions::table.find(id).select(SessionRow::as_select()).get_result(conn).optional()
}

/// Ends every open session of a user (disable, password reset).
pub fn revoke_user_sessions(tx: &mut Tx<'_>, user_id: &str, reason: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null()))
        .set((sessions::revoked_at.eq(now), sessions::revoked_reason.eq(reason)))
        .execute(tx.conn())
}

pub fn revoke_session(tx: &mut Tx<'_>, session_id: &str, reason: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(sessions::table.find(session_id).filter(sessions::revoked_at.is_null()))
        .set((sessions::revoked_at.eq(now), sessions::revoked_reason.eq(reason)))
        .execute(tx.conn())
}
