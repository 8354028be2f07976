//! Swap requests: a member offers a span of their duty, another member of the agency takes it, a
//! coordinator approves (unless the offer said no approval is needed), and the taker is written
//! into the schedule as an override. Every action is a compare-and-set on the request's version.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;
use terren_contract::schedules::{CreateSwapRequest, SwapRequest, SwapState};
use uuid::Uuid;

use super::overrides::{self, NewOverride};
use super::resolve::{Shift, Source};
use super::service::{self, Loaded};
use crate::access::AuthUser;
use crate::accounts::service::person_ref;
use crate::audit;
use crate::clock::{to_utc, truncate};
use crate::db::schema::swap_requests;
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::{ScheduleId, parse_uuid};
use crate::vocabularies::{parse_wire_code, wire_code};

/// The reason written on the overrides an approved swap makes.
const SWAP_REASON: &str = "Shkëmbim turni / Shift swap";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = swap_requests)]
struct SwapRow {
    id: String,
    schedule_id: ScheduleId,
    offered_by: String,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    note: Option<String>,
    state: String,
    needs_approval: bool,
    taken_by: Option<String>,
    decided_by: Option<String>,
    version: i32,
    created_at: NaiveDateTime,
}

/// One step of a swap's life, written only if the request is still at the version and state read.
#[derive(AsChangeset)]
#[diesel(table_name = swap_requests)]
struct Transition<'a> {
    state: &'a str,
    version: i32,
    updated_at: NaiveDateTime,
    taken_by: Option<&'a str>,
    taken_at: Option<NaiveDateTime>,
    decided_by: Option<&'a str>,
    decided_at: Option<NaiveDateTime>,
}

/// True when `user` is on duty throughout the stretches (which tile the span they were resolved
/// for).
pub fn on_duty_throughout(shifts: &[Shift], user: &str) -> bool {
    !shifts.is_empty() && shifts.iter().all(|shift| shift.people.contains(user))
}

/// The overrides that keep the offerer's co-workers (the other half of a pair) on duty once the
/// taker's override wins over the layers: one per co-worker and unbroken stretch that comes from
/// layers. Stretches that come from overrides need nothing, as the co-workers' own overrides stay.
pub fn coworker_covers(shifts: &[Shift], offerer: &str, taker: &str) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    let mut open: BTreeMap<&str, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    let mut covers = Vec::new();
    for shift in shifts {
        let from_layers = !shift.sources.iter().any(|source| matches!(source, Source::Override(_)));
        let here: Vec<&str> = if from_layers {
            shift.people.iter().map(String::as_str).filter(|p| *p != offerer && *p != taker).collect()
        } else {
            Vec::new()
        };
        // Close the stretches of people who are not on duty here.
        let ended: Vec<&str> = open.keys().copied().filter(|person| !here.contains(person)).collect();
        for person in ended {
            if let Some((start, end)) = open.remove(person) {
                covers.push((person.to_owned(), start, end));
            }
        }
        for person in here {
            open.entry(person).and_modify(|span| span.1 = shift.end).or_insert((shift.start, shift.end));
        }
    }
    covers.extend(open.into_iter().map(|(person, (start, end))| (person.to_owned(), start, end)));
    covers.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    covers
}

fn view(conn: &mut DbConnection, row: SwapRow) -> ApiResult<SwapRequest> {
    Ok(SwapRequest {
        id: parse_uuid(&row.id)?,
        schedule_id: row.schedule_id.uuid()?,
        offered_by: person_ref(conn, &row.offered_by)?,
        starts_at: to_utc(row.starts_at),
        ends_at: to_utc(row.ends_at),
        note: row.note,
        state: parse_wire_code(&row.state)?,
        needs_approval: row.needs_approval,
        taken_by: row.taken_by.as_deref().map(|id| person_ref(conn, id)).transpose()?,
        decided_by: row.decided_by.as_deref().map(|id| person_ref(conn, id)).transpose()?,
        version: row.version,
        created_at: to_utc(row.created_at),
    })
}

fn load_swap(conn: &mut DbConnection, schedule_id: &ScheduleId, id: &str) -> ApiResult<SwapRow> {
    swap_requests::table
        .filter(swap_requests::id.eq(id))
        .filter(swap_requests::schedule_id.eq(schedule_id))
        .select(SwapRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("swap request"))
}

/// Swaps are a matter for the members of the schedule's agency.
fn member_of(user: &AuthUser, loaded: &Loaded) -> ApiResult<()> {
    if user.agency.id != loaded.row.agency_id {
        return Err(ApiError::forbidden("swaps are between members of the schedule's agency"));
    }
    Ok(())
}

pub fn create(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    schedule_id: &ScheduleId,
    request: &CreateSwapRequest,
    at: NaiveDateTime,
) -> ApiResult<SwapRequest> {
    let loaded = service::load(tx, schedule_id)?;
    member_of(user, &loaded)?;
    overrides::check_future_span(request.starts_at, request.ends_at, to_utc(at))?;
    let shifts = loaded.resolve(tx, request.starts_at, request.ends_at)?;
    if !on_duty_throughout(&shifts, &user.user_id) {
        return Err(ApiError::field(
            "starts_at",
            FieldErrorCode::NotOnDuty,
            "you can only offer a span in which you are on duty from start to end",
        ));
    }
    let (starts_at, ends_at) = (truncate(request.starts_at), truncate(request.ends_at));
    let open: i64 = swap_requests::table
        .filter(swap_requests::schedule_id.eq(schedule_id))
        .filter(swap_requests::offered_by.eq(&user.user_id))
        .filter(swap_requests::state.eq_any([wire_code(SwapState::Offered), wire_code(SwapState::Taken)]))
        .filter(swap_requests::starts_at.lt(ends_at))
        .filter(swap_requests::ends_at.gt(starts_at))
        .count()
        .get_result(tx.conn())?;
    if open > 0 {
        return Err(ApiError::conflict("you already offered part of this span in a swap that is still open"));
    }
    let id = Uuid::now_v7().to_string();
    let needs_approval = request.needs_approval.unwrap_or(true);
    let note = request.note.as_deref().map(str::trim).filter(|note| !note.is_empty());
    diesel::insert_into(swap_requests::table)
        .values((
            swap_requests::id.eq(&id),
            swap_requests::schedule_id.eq(schedule_id),
            swap_requests::offered_by.eq(&user.user_id),
            swap_requests::starts_at.eq(starts_at),
            swap_requests::ends_at.eq(ends_at),
            swap_requests::note.eq(note),
            swap_requests::state.eq(wire_code(SwapState::Offered)),
            swap_requests::needs_approval.eq(needs_approval),
            swap_requests::version.eq(1),
            swap_requests::created_at.eq(at),
            swap_requests::updated_at.eq(at),
        ))
        .execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "schedule.swap.offer",
        "schedule",
        schedule_id,
        json!({
            "swap_request_id": id,
            "starts_at": request.starts_at,
            "ends_at": request.ends_at,
            "needs_approval": needs_approval,
        }),
    )?;
    let row = load_swap(tx, schedule_id, &id)?;
    view(tx, row)
}

pub fn list(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &ScheduleId,
    state: Option<SwapState>,
) -> ApiResult<Vec<SwapRequest>> {
    user.require(Permission::ReferenceRead)?;
    let loaded = service::load(conn, schedule_id)?;
    member_of(user, &loaded)?;
    let mut query = swap_requests::table
        .filter(swap_requests::schedule_id.eq(schedule_id))
        .order((swap_requests::starts_at.asc(), swap_requests::created_at.asc()))
        .select(SwapRow::as_select())
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(swap_requests::state.eq(wire_code(state)));
    }
    let rows: Vec<SwapRow> = query.load(conn)?;
    rows.into_iter().map(|row| view(conn, row)).collect()
}

/// What a person does to a swap request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Take,
    Approve,
    Decline,
    Cancel,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Take => "take",
            Action::Approve => "approve",
            Action::Decline => "decline",
            Action::Cancel => "cancel",
        }
    }

    /// The states the action starts from.
    fn starts_from(self) -> &'static [SwapState] {
        match self {
            Action::Take => &[SwapState::Offered],
            Action::Approve | Action::Decline => &[SwapState::Taken],
            Action::Cancel => &[SwapState::Offered, SwapState::Taken],
        }
    }
}

/// Carries out `action` on a swap request read at `version`.
pub fn act(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    (schedule_id, swap_id): (&ScheduleId, &str),
    action: Action,
    version: i32,
    at: NaiveDateTime,
) -> ApiResult<SwapRequest> {
    let loaded = service::load(tx, schedule_id)?;
    let row = load_swap(tx, schedule_id, swap_id)?;
    match action {
        Action::Take => {
            member_of(user, &loaded)?;
            if user.user_id == row.offered_by {
                return Err(ApiError::field(
                    "taken_by",
                    FieldErrorCode::OwnSwap,
                    "you offered this swap; another member takes it",
                ));
            }
            if !service::members(tx, &loaded.row.agency_id)?.contains(user.user_id.as_str()) {
                return Err(ApiError::forbidden("only active members of the schedule's agency take its swaps"));
            }
        }
        Action::Approve | Action::Decline => service::can_manage(user, &loaded.row.agency_id)?,
        Action::Cancel => {
            if user.user_id != row.offered_by {
                return Err(ApiError::forbidden("only the person who offered a swap cancels it"));
            }
        }
    }
    if row.version != version {
        let current = view(tx, row)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
    }
    let state = parse_wire_code(&row.state)?;
    if !action.starts_from().contains(&state) {
        return Err(ApiError::conflict(format!(
            "the swap request is {}: it cannot be {}",
            wire_code(state),
            match action {
                Action::Take => "taken",
                Action::Approve => "approved",
                Action::Decline => "declined",
                Action::Cancel => "cancelled",
            }
        )));
    }
    let (next, taker) = match action {
        Action::Take if row.needs_approval => (SwapState::Taken, Some(user.user_id.as_str())),
        Action::Take => (SwapState::Approved, Some(user.user_id.as_str())),
        Action::Approve => (SwapState::Approved, row.taken_by.as_deref()),
        Action::Decline => (SwapState::Declined, None),
        Action::Cancel => (SwapState::Cancelled, None),
    };
    if action == Action::Take {
        let shifts = loaded.resolve(tx, to_utc(row.starts_at).max(to_utc(at)), to_utc(row.ends_at))?;
        if shifts.iter().any(|shift| shift.people.contains(user.user_id.as_str())) {
            return Err(ApiError::field(
                "taken_by",
                FieldErrorCode::AlreadyOnDuty,
                "you are on duty during part of this span",
            ));
        }
    }
    let deciding = matches!(action, Action::Approve | Action::Decline);
    let next_state = wire_code(next);
    let transition = Transition {
        state: &next_state,
        version: version + 1,
        updated_at: at,
        taken_by: if action == Action::Take { taker } else { None },
        taken_at: (action == Action::Take).then_some(at),
        decided_by: deciding.then_some(user.user_id.as_str()),
        decided_at: deciding.then_some(at),
    };
    let updated = diesel::update(
        swap_requests::table
            .filter(swap_requests::id.eq(swap_id))
            .filter(swap_requests::version.eq(version))
            .filter(swap_requests::state.eq(&row.state)),
    )
    .set(&transition)
    .execute(tx.conn())?;
    if updated == 0 {
        // Someone else acted between the read and the write.
        let current = load_swap(tx, schedule_id, swap_id)?;
        let current = view(tx, current)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        &format!("schedule.swap.{}", action.name()),
        "schedule",
        schedule_id,
        json!({ "swap_request_id": swap_id, "from": row.state, "to": wire_code(next) }),
    )?;
    if next == SwapState::Approved {
        let taker = taker.ok_or_else(|| ApiError::internal(anyhow::anyhow!("approved swap {swap_id} has no taker")))?;
        hand_over(tx, &loaded, &row, taker, user, at)?;
    }
    let row = load_swap(tx, schedule_id, swap_id)?;
    view(tx, row)
}

/// Puts the taker on duty for what is left of the span, keeps the offerer's co-workers on duty,
/// and takes the offerer off any override of theirs in the span.
fn hand_over(
    tx: &mut Tx<'_>,
    loaded: &Loaded,
    row: &SwapRow,
    taker: &str,
    actor: &AuthUser,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let (start, end) = (to_utc(row.starts_at).max(to_utc(at)), to_utc(row.ends_at));
    if end <= start {
        return Err(ApiError::conflict("the span of this swap has passed"));
    }
    if !service::members(tx, &loaded.row.agency_id)?.contains(taker) {
        return Err(ApiError::conflict("the taker is no longer an active member of the agency"));
    }
    let shifts = loaded.resolve(tx, start, end)?;
    if !on_duty_throughout(&shifts, &row.offered_by) {
        return Err(ApiError::conflict(
            "the rota changed: the person who offered the swap is no longer on duty for the whole span",
        ));
    }
    if shifts.iter().any(|shift| shift.people.contains(taker)) {
        return Err(ApiError::conflict("the rota changed: the taker is now on duty during part of the span"));
    }
    let covers = coworker_covers(&shifts, &row.offered_by, taker);
    overrides::carve_out(tx, &row.schedule_id, &row.offered_by, (start, end), actor, at)?;
    let mut write = |user_id: &str, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>| {
        let new = NewOverride {
            schedule_id: &row.schedule_id,
            user_id,
            starts_at,
            ends_at,
            reason: Some(SWAP_REASON),
            swap_request_id: Some(&row.id),
        };
        overrides::insert_override(tx, &new, actor, at).map(|_| ())
    };
    write(taker, start, end)?;
    for (coworker, starts_at, ends_at) in covers {
        write(&coworker, starts_at, ends_at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2027, 1, 4, hour, 0, 0).unwrap()
    }

    fn shift(from: u32, to: u32, people: &[&str], source: Source) -> Shift {
        Shift {
            start: at(from),
            end: at(to),
            people: people.iter().map(|p| (*p).to_owned()).collect(),
            sources: BTreeSet::from([source]),
        }
    }

    fn layer() -> Source {
        Source::Layer("main".into())
    }

    #[test]
    fn the_offerer_must_be_on_duty_in_every_stretch() {
        let shifts = [shift(8, 12, &["ana", "ben"], layer()), shift(12, 16, &["ana"], layer())];
        assert!(on_duty_throughout(&shifts, "ana"));
        assert!(!on_duty_throughout(&shifts, "ben"));
        assert!(!on_duty_throughout(&[], "ana"));
    }

    #[test]
    fn co_workers_from_layers_are_kept_in_unbroken_stretches() {
        let shifts = [
            shift(8, 10, &["ana", "ben"], layer()),
            shift(10, 12, &["ana", "ben", "cara"], layer()),
            shift(12, 14, &["ana", "cara"], Source::Override("o1".into())),
            shift(14, 16, &["ana", "cara"], layer()),
        ];
        assert_eq!(
            coworker_covers(&shifts, "ana", "dan"),
            vec![
                ("ben".to_owned(), at(8), at(12)),
                ("cara".to_owned(), at(10), at(12)),
                ("cara".to_owned(), at(14), at(16))
            ]
        );
        assert!(coworker_covers(&[shift(8, 16, &["ana"], layer())], "ana", "dan").is_empty());
    }
}
