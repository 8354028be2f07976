//! Teams that go out on rounds: squads, mobile units, joint teams with the police.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::auth::AgencyRef;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::rounds::{PutTeam, RoundStatus, Team, TeamKind, TeamMember, TeamRef};
use uuid::Uuid;

use super::conflicts;
use super::store::RoundRow;
use super::window::Window;
use crate::access::AuthUser;
use crate::accounts::service::agency_ref_of;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{agencies, rounds, team_members, teams, users};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AgencyId, TeamId, UserId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{parse_wire_code, wire_code};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    pub id: TeamId,
    pub agency_id: AgencyId,
    pub name: String,
    pub kind: String,
    pub home_area_id: Option<String>,
    pub notes: Option<String>,
    pub phone: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TeamRow {
    pub fn as_ref(&self) -> ApiResult<TeamRef> {
        Ok(TeamRef { id: parse_uuid(&self.id)?, name: self.name.clone() })
    }
}

pub fn load(conn: &mut DbConnection, id: &TeamId) -> ApiResult<TeamRow> {
    teams::table
        .filter(teams::id.eq(id))
        .select(TeamRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("team"))
}

/// User ids of the team's members.
pub fn member_ids(conn: &mut DbConnection, team_id: &TeamId) -> QueryResult<Vec<String>> {
    team_members::table.filter(team_members::team_id.eq(team_id)).select(team_members::user_id).load(conn)
}

pub fn is_member(conn: &mut DbConnection, team_id: &TeamId, user_id: &UserId) -> QueryResult<bool> {
    let count: i64 = team_members::table
        .filter(team_members::team_id.eq(team_id))
        .filter(team_members::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// The members with their agency and phone, by name.
pub fn members(conn: &mut DbConnection, team_id: &TeamId) -> ApiResult<Vec<TeamMember>> {
    let rows: Vec<(String, String, Option<String>, AgencyId, String, String)> = team_members::table
        .inner_join(users::table.inner_join(agencies::table))
        .filter(team_members::team_id.eq(team_id))
        .select((users::id, users::display_name, users::phone, agencies::id, agencies::code, agencies::name))
        .order((users::display_name.asc(), users::id.asc()))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, display_name, phone, agency_id, code, name)| {
            Ok(TeamMember {
                id: parse_uuid(&id)?,
                display_name,
                agency: AgencyRef { id: agency_id.uuid()?, code, name },
                phone,
            })
        })
        .collect()
}

/// The team as the reader sees it. A member's phone number is shown to the team's members, who
/// must reach each other in the field, and to people of the member's own agency; planners of
/// another agency reach a joint team through its team phone.
pub fn view(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, row: &TeamRow) -> ApiResult<Team> {
    let mut members = members(conn, &row.id)?;
    let reader = parse_uuid(&user.user_id)?;
    if !members.iter().any(|m| m.id == reader) {
        for member in &mut members {
            if AgencyId::from(member.agency.id) != user.agency.id {
                member.phone = None;
            }
        }
    }
    Ok(Team {
        id: parse_uuid(&row.id)?,
        agency: agency_ref_of(conn, &row.agency_id)?,
        name: row.name.clone(),
        kind: parse_wire_code(&row.kind)?,
        members,
        home_area: area_ref(index, &row.home_area_id),
        notes: row.notes.clone(),
        phone: row.phone.clone(),
        active: row.active,
        version: row.version,
    })
}

/// Teams of the person's agency, and joint teams they are in.
pub fn list(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser) -> ApiResult<Vec<Team>> {
    user.require(Permission::ReferenceRead)?;
    let mine = team_members::table.filter(team_members::user_id.eq(user.user_id.clone())).select(team_members::team_id);
    let rows: Vec<TeamRow> = teams::table
        .filter(teams::agency_id.eq(&user.agency.id).or(teams::id.eq_any(mine)))
        .select(TeamRow::as_select())
        .order((teams::name.asc(), teams::id.asc()))
        .load(conn)?;
    rows.iter().map(|row| view(conn, index, user, row)).collect()
}

pub fn get(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, id: &TeamId) -> ApiResult<Team> {
    let row = visible(conn, user, id)?;
    view(conn, index, user, &row)
}

/// A team the person may see: one they are in, or their agency's with `reference_read`.
pub fn visible(conn: &mut DbConnection, user: &AuthUser, id: &TeamId) -> ApiResult<TeamRow> {
    visible_for(conn, user, id, "team")
}

/// The same, for a record of the team (a round, a series): a team out of sight is reported as
/// that record not found.
pub fn visible_for(conn: &mut DbConnection, user: &AuthUser, id: &TeamId, record: &str) -> ApiResult<TeamRow> {
    let row = load(conn, id)?;
    if (row.agency_id == user.agency.id && user.can(Permission::ReferenceRead)) || is_member(conn, id, &user.user_id)? {
        Ok(row)
    } else {
        Err(ApiError::not_found(record))
    }
}

/// A team the person may plan for: their agency's, with `planning_manage`.
pub fn planned_by(conn: &mut DbConnection, user: &AuthUser, id: &TeamId) -> ApiResult<TeamRow> {
    user.require(Permission::PlanningManage)?;
    let row = load(conn, id)?;
    if row.agency_id != user.agency.id {
        return Err(ApiError::not_found("team"));
    }
    Ok(row)
}

/// People joining a team must be free for its rounds still to come: not in another round then,
/// nor on duty when the agency forbids it (409 `round_conflict` naming the days).
fn free_for_rounds_ahead(tx: &mut Tx<'_>, team_id: &TeamId, joining: &[String], at: NaiveDateTime) -> ApiResult<()> {
    if joining.is_empty() {
        return Ok(());
    }
    let team = load(tx, team_id)?;
    let policy = super::policy::policy_of(tx, &team.agency_id)?;
    let ahead: Vec<RoundRow> = rounds::table
        .filter(rounds::team_id.eq(team_id))
        .filter(rounds::status.eq_any([wire_code(RoundStatus::Planned), wire_code(RoundStatus::InProgress)]))
        .filter(rounds::ends_at.gt(at))
        .order(rounds::starts_at.asc())
        .select(RoundRow::as_select())
        .load(tx.conn())?;
    let mut clashes = Vec::new();
    for round in &ahead {
        let window = Window {
            starts_at: to_utc(round.starts_at),
            ends_at: to_utc(round.ends_at),
            local_date: round.local_date.parse().unwrap_or_default(),
        };
        let busy = conflicts::busy_members(tx, &team, joining, &window, Some(&round.id), &policy)?;
        if !busy.is_empty() {
            clashes.push(format!("{}: {}", round.local_date, busy.join(", ")));
        }
    }
    if clashes.is_empty() { Ok(()) } else { Err(conflicts::conflict(clashes)) }
}

/// New rounds go only to a team still in service.
pub fn ensure_active(team: &TeamRow) -> ApiResult<()> {
    if team.active {
        Ok(())
    } else {
        Err(ApiError::field("team_id", FieldErrorCode::InactiveTeam, "the team is no longer active"))
    }
}

fn check_members(conn: &mut DbConnection, user: &AuthUser, request: &PutTeam) -> ApiResult<Vec<String>> {
    let ids: BTreeSet<String> = request.members.iter().map(Uuid::to_string).collect();
    let found: HashMap<String, (String, bool)> = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::agency_id, users::disabled_at.is_null()))
        .load::<(String, String, bool)>(conn)?
        .into_iter()
        .map(|(id, agency, active)| (id, (agency, active)))
        .collect();
    let mut errors = Vec::new();
    for (i, id) in request.members.iter().enumerate() {
        let field = format!("members[{i}]");
        match found.get(&id.to_string()) {
            None | Some((_, false)) => errors.push(FieldError {
                field,
                code: FieldErrorCode::UnknownUser,
                message: "no such active user".into(),
            }),
            Some((agency, true)) if *agency != user.agency.id && request.kind != TeamKind::Joint => {
                errors.push(FieldError {
                    field,
                    code: FieldErrorCode::OtherAgency,
                    message: "only a joint team has members of other agencies".into(),
                })
            }
            Some(_) => {}
        }
    }
    if errors.is_empty() { Ok(ids.into_iter().collect()) } else { Err(ApiError::fields(errors)) }
}

/// Creates (`id` absent) or replaces a team of the person's agency.
pub fn put(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: Option<&TeamId>,
    request: &PutTeam,
    at: NaiveDateTime,
) -> ApiResult<(Team, bool)> {
    user.require(Permission::PlanningManage)?;
    // Whose it is comes before what is wrong with the request.
    let existing = id.map(|id| planned_by(tx, user, id)).transpose()?;
    let members = check_members(tx, user, request)?;
    let home_area_id = match &request.home_area_code {
        Some(code) => Some(index.find_code(code).map(|a| index.area(a).id.clone()).ok_or_else(|| {
            ApiError::field("home_area_code", FieldErrorCode::UnknownArea, format!("no area {code}"))
        })?),
        None => None,
    };
    let name = request.name.trim().to_owned();
    let mut before = None;
    let (team_id, created) = match id {
        None => {
            let team_id = TeamId::generate();
            diesel::insert_into(teams::table)
                .values((
                    teams::id.eq(&team_id),
                    teams::agency_id.eq(&user.agency.id),
                    teams::name.eq(&name),
                    teams::kind.eq(wire_code(request.kind)),
                    teams::home_area_id.eq(&home_area_id),
                    teams::notes.eq(&request.notes),
                    teams::phone.eq(&request.phone),
                    teams::active.eq(request.active),
                    teams::version.eq(1),
                    teams::created_at.eq(at),
                    teams::updated_at.eq(at),
                ))
                .execute(tx.conn())?;
            (team_id, true)
        }
        Some(id) => {
            let current = existing.ok_or_else(|| ApiError::not_found("team"))?;
            if request.version != Some(current.version) {
                let now = view(tx, index, user, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(now).map_err(anyhow::Error::from)?));
            }
            let changed =
                diesel::update(teams::table.filter(teams::id.eq(id)).filter(teams::version.eq(current.version)))
                    .set((
                        teams::name.eq(&name),
                        teams::kind.eq(wire_code(request.kind)),
                        teams::home_area_id.eq(&home_area_id),
                        teams::notes.eq(&request.notes),
                        teams::phone.eq(&request.phone),
                        teams::active.eq(request.active),
                        teams::version.eq(current.version + 1),
                        teams::updated_at.eq(at),
                    ))
                    .execute(tx.conn())?;
            if changed == 0 {
                return Err(ApiError::new(ErrorCode::VersionMismatch));
            }
            before = Some(member_ids(tx, id)?);
            diesel::delete(team_members::table.filter(team_members::team_id.eq(id))).execute(tx.conn())?;
            (id.clone(), false)
        }
    };
    for member in &members {
        diesel::insert_into(team_members::table)
            .values((team_members::team_id.eq(&team_id), team_members::user_id.eq(member)))
            .execute(tx.conn())?;
    }
    if let Some(before) = before {
        let joining: Vec<String> = members.iter().filter(|m| !before.contains(*m)).cloned().collect();
        free_for_rounds_ahead(tx, &team_id, &joining, at)?;
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        if created { "team.create" } else { "team.update" },
        "team",
        &team_id,
        json!({ "name": name, "members": members }),
    )?;
    let row = load(tx, &team_id)?;
    Ok((view(tx, index, user, &row)?, created))
}
