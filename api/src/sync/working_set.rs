//! What reaches a phone: for each collection, which records are in the caller's working set, as
//! the access rules allow the caller to see them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::alerts::{Alert, AlertState};
use terren_contract::hotspots::Hotspot;
use terren_contract::referrals::{Referral, ReferralStatus};

use crate::access::{self, AuthUser};
use crate::changes::kinds;
use crate::db::schema::{alerts, hotspots, referrals};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AlertId, ReferralId};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::wire_code;

/// The collections a phone holds, in the order a full sync sends them.
pub const COLLECTIONS: [&str; 3] = [kinds::REFERRAL, kinds::ALERT, kinds::HOTSPOT];

/// A record of the working set, as the caller may see it.
pub enum Member {
    Referral(Box<Referral>),
    Alert(Box<Alert>),
    Hotspot(Box<Hotspot>),
}

/// The ids of the caller's records of collection `kind`: open ones, and closed ones made since
/// `window_start`; with `only`, that record if it is one of them. Sorted.
pub fn ids(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    kind: &str,
    window_start: NaiveDateTime,
    only: Option<&str>,
) -> ApiResult<Vec<String>> {
    match kind {
        kinds::REFERRAL => referral_ids(conn, user, window_start, only),
        kinds::ALERT => alert_candidates(conn, user, window_start, only),
        kinds::HOTSPOT => hotspot_ids(conn, index, user, only),
        _ => Ok(Vec::new()),
    }
}

fn referral_ids(
    conn: &mut DbConnection,
    user: &AuthUser,
    window_start: NaiveDateTime,
    only: Option<&str>,
) -> ApiResult<Vec<String>> {
    if !(user.can(Permission::ReferralsCreate) || user.can(Permission::ReferralsRespond)) {
        return Ok(Vec::new());
    }
    let mut query = referrals::table
        .filter(access::referrals::list_filter(user))
        .filter(referrals::status.eq_any(ReferralStatus::OPEN.map(wire_code)).or(referrals::sent_at.ge(window_start)))
        .select(referrals::id)
        .order(referrals::id.asc())
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(referrals::id.eq(id.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Alerts of the caller's agency, raised by the caller, or the caller was paged for; whether the
/// caller may see each is [`view`]'s to say (the rule has cases a query does not hold).
fn alert_candidates(
    conn: &mut DbConnection,
    user: &AuthUser,
    window_start: NaiveDateTime,
    only: Option<&str>,
) -> ApiResult<Vec<String>> {
    let mut query = alerts::table
        .filter(access::alerts::list_filter(user))
        .filter(alerts::state.eq_any(AlertState::OPEN.map(wire_code)).or(alerts::created_at.ge(window_start)))
        .select(alerts::id)
        .order(alerts::id.asc())
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(alerts::id.eq(id.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Closed records of collection `kind` the caller could see, made in `[from, to)`: they left the
/// working set when its window moved past them.
pub fn left_window(
    conn: &mut DbConnection,
    user: &AuthUser,
    kind: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> ApiResult<Vec<String>> {
    if from >= to {
        return Ok(Vec::new());
    }
    match kind {
        kinds::REFERRAL => Ok(referrals::table
            .filter(access::referrals::list_filter(user))
            .filter(referrals::status.ne_all(ReferralStatus::OPEN.map(wire_code)))
            .filter(referrals::sent_at.ge(from).and(referrals::sent_at.lt(to)))
            .select(referrals::id)
            .load(conn)?),
        kinds::ALERT => Ok(alerts::table
            .filter(access::alerts::list_filter(user))
            .filter(alerts::state.ne_all(AlertState::OPEN.map(wire_code)))
            .filter(alerts::created_at.ge(from).and(alerts::created_at.lt(to)))
            .select(alerts::id)
            .load(conn)?),
        _ => Ok(Vec::new()),
    }
}

/// Active hotspots of the caller's agency or lying in the areas it serves.
fn hotspot_ids(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    only: Option<&str>,
) -> ApiResult<Vec<String>> {
    if !user.can(Permission::ReferenceRead) {
        return Ok(Vec::new());
    }
    let areas: Vec<String> = access::scope_area_ids(index, user).into_iter().collect();
    let mut query = hotspots::table
        .filter(hotspots::active.eq(true))
        .filter(
            hotspots::agency_id
                .eq(user.agency.id.clone())
                .or(hotspots::municipality_id.eq_any(areas.clone()))
                .or(hotspots::admin_unit_id.eq_any(areas)),
        )
        .select(hotspots::id)
        .order(hotspots::id.asc())
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(hotspots::id.eq(id.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// The record as the caller may see it now; `None` when they may not.
pub fn view(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    kind: &str,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Option<Member>> {
    let found = match kind {
        kinds::REFERRAL => crate::referrals::service::get(tx, index, user, &ReferralId::from_stored(id), at)
            .map(|r| Member::Referral(Box::new(r))),
        kinds::ALERT => {
            crate::alerts::service::get(tx, index, user, &AlertId::from_stored(id)).map(|a| Member::Alert(Box::new(a)))
        }
        kinds::HOTSPOT => crate::hotspots::service::get(tx, index, user, id).map(|h| Member::Hotspot(Box::new(h))),
        _ => return Ok(None),
    };
    match found {
        Ok(member) => Ok(Some(member)),
        Err(error) if hidden(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Errors that mean "not for this caller" rather than a failure.
fn hidden(error: &ApiError) -> bool {
    matches!(error.code, ErrorCode::NotFound | ErrorCode::Forbidden | ErrorCode::NotYourAgency)
}
