//! Referrals as shown: one or a list, comments and timelines. The row is in `store`; who may see
//! a referral and what of the person it shows is decided in `access::referrals`.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::ProfileRef;
use terren_contract::referrals::{
    CreateReferralComment, Deadline, DeadlineKind, Referral, ReferralBox, ReferralEvent, ReferralEventKind,
    ReferralListQuery, ReferralPage, ReferralStatus, ReferralSubject, Routing,
};
use uuid::Uuid;

use crate::access::AuthUser;
use crate::access::referrals::{find_visible, list_filter, may_see, shows_person};
use crate::accounts::service::person_refs;
use crate::audit::{self};
use crate::clock::to_utc;
use crate::db::schema::{agencies, child_profiles, referral_deadlines, referral_events, referrals};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, cursor};
use crate::identifications::store::parse_codes;
use crate::ids::{AgencyId, ReferralId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{parse_wire_code, wire_code};

pub use super::store::{DeadlineRow, ReferralRow, find, load};

pub fn add_event(
    tx: &mut Tx<'_>,
    referral_id: &ReferralId,
    at: NaiveDateTime,
    kind: ReferralEventKind,
    actor: Option<&str>,
    note: Option<&str>,
    details: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(referral_events::table)
        .values((
            referral_events::id.eq(Uuid::now_v7().to_string()),
            referral_events::referral_id.eq(referral_id),
            referral_events::occurred_at.eq(at),
            referral_events::kind.eq(wire_code(kind)),
            referral_events::actor_user_id.eq(actor),
            referral_events::note.eq(note),
            referral_events::details.eq(details.to_string()),
        ))
        .execute(tx.conn())?;
    Ok(())
}

fn deadlines_of(conn: &mut DbConnection, ids: &[ReferralId]) -> QueryResult<HashMap<ReferralId, Vec<DeadlineRow>>> {
    let rows: Vec<DeadlineRow> = referral_deadlines::table
        .filter(referral_deadlines::referral_id.eq_any(ids))
        .select(DeadlineRow::as_select())
        .load(conn)?;
    let mut by_referral: HashMap<ReferralId, Vec<DeadlineRow>> = HashMap::new();
    for row in rows {
        by_referral.entry(row.referral_id.clone()).or_default().push(row);
    }
    Ok(by_referral)
}

fn kind_order(kind: &str) -> usize {
    DeadlineKind::ALL.iter().position(|k| wire_code(*k) == kind).unwrap_or(usize::MAX)
}

/// Referrals as the reader may see them, looked up in a few queries for the whole list.
pub fn views(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    rows: &[ReferralRow],
    now: NaiveDateTime,
) -> ApiResult<Vec<Referral>> {
    let ids: Vec<ReferralId> = rows.iter().map(|r| r.id.clone()).collect();
    let mut deadlines = deadlines_of(conn, &ids)?;
    let agency_ids: BTreeSet<AgencyId> = rows
        .iter()
        .flat_map(|r| [Some(r.from_agency_id.clone()), Some(r.to_agency_id.clone()), r.suggested_agency_id.clone()])
        .flatten()
        .collect();
    let agency_refs: HashMap<AgencyId, terren_contract::auth::AgencyRef> = agencies::table
        .filter(agencies::id.eq_any(&agency_ids))
        .select((agencies::id, agencies::code, agencies::name))
        .load::<(AgencyId, String, String)>(conn)?
        .into_iter()
        .map(|(id, code, name)| Ok((id.clone(), terren_contract::auth::AgencyRef { id: id.uuid()?, code, name })))
        .collect::<ApiResult<_>>()?;
    let people: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| {
            [Some(r.created_by.clone()), r.acknowledged_by.clone(), r.responded_by.clone(), r.ended_by.clone()]
        })
        .flatten()
        .collect();
    let names = person_refs(conn, &people)?;
    let profile_ids: Vec<String> = rows.iter().filter_map(|r| r.profile_id.clone()).collect();
    let references: HashMap<String, String> = child_profiles::table
        .filter(child_profiles::id.eq_any(&profile_ids))
        .select((child_profiles::id, child_profiles::reference))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let agency = |id: &str| {
        agency_refs.get(id).cloned().ok_or_else(|| ApiError::internal(anyhow::anyhow!("agency {id} of a referral")))
    };
    let person = |id: &Option<String>| id.as_ref().and_then(|id| names.get(id).cloned());
    rows.iter()
        .map(|row| {
            let mut own = deadlines.remove(&row.id).unwrap_or_default();
            own.sort_by_key(|d| kind_order(&d.kind));
            let deadlines = own
                .iter()
                .map(|d| {
                    Ok(Deadline {
                        kind: parse_wire_code(&d.kind)?,
                        due_at: to_utc(d.due_at),
                        state: d.state(now),
                        met_at: d.met_at.map(to_utc),
                        breached_at: d.breached_at.map(to_utc),
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?;
            let person_shown = shows_person(user, row);
            Ok(Referral {
                id: row.id.uuid()?,
                status: row.status()?,
                priority: row.priority()?,
                reasons: parse_codes(&row.reasons),
                services: row.services(),
                notes: row.notes.clone(),
                subject: ReferralSubject {
                    subject_type: row.subject_type.clone(),
                    age_band: parse_wire_code(&row.age_band)?,
                    sex: row.sex.clone(),
                    municipality: area_ref(index, &row.municipality_id),
                    admin_unit: area_ref(index, &row.admin_unit_id),
                    street_situations: parse_codes(&row.street_situations),
                    risk_level: row.risk_level.clone(),
                },
                identification_id: row
                    .identification_id
                    .as_deref()
                    .filter(|_| person_shown)
                    .map(parse_uuid)
                    .transpose()?,
                profile: match row.profile_id.as_ref().filter(|_| person_shown) {
                    Some(id) => Some(ProfileRef {
                        id: parse_uuid(id)?,
                        reference: references.get(id).cloned().unwrap_or_default(),
                    }),
                    None => None,
                },
                share: parse_wire_code(&row.share)?,
                consent_given_by: row.consent_given_by.clone(),
                consent_override_reason: row.consent_override_reason.clone(),
                from_agency: agency(&row.from_agency_id)?,
                to_agency: agency(&row.to_agency_id)?,
                routing: Routing {
                    method: parse_wire_code(&row.routing_method)?,
                    rule_id: row.route_id.as_deref().map(parse_uuid).transpose()?,
                },
                created_by: person(&Some(row.created_by.clone()))
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("creator of referral {}", row.id)))?,
                made_at: row.made_at.map(to_utc),
                sent_at: to_utc(row.sent_at),
                acknowledged_by: person(&row.acknowledged_by),
                acknowledged_at: row.acknowledged_at.map(to_utc),
                responded_by: person(&row.responded_by),
                responded_at: row.responded_at.map(to_utc),
                contacted_at: row.contacted_at.map(to_utc),
                ended_by: person(&row.ended_by),
                ended_at: row.ended_at.map(to_utc),
                outcome: row.outcome.clone(),
                decline_reason: row.decline_reason.clone(),
                suggested_agency: row.suggested_agency_id.as_deref().map(agency).transpose()?,
                forwarded_from: row.forwarded_from.as_ref().map(ReferralId::uuid).transpose()?,
                forwarded_to: row.forwarded_to.as_ref().map(ReferralId::uuid).transpose()?,
                overdue: row.next_due_at.is_some_and(|due| due < now),
                deadlines,
                version: row.version,
            })
        })
        .collect()
}

pub fn view(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ReferralRow,
    now: NaiveDateTime,
) -> ApiResult<Referral> {
    views(conn, index, user, std::slice::from_ref(row), now)?.pop().ok_or_else(|| ApiError::not_found("referral"))
}

pub fn get(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &ReferralId,
    at: NaiveDateTime,
) -> ApiResult<Referral> {
    let row = find_visible(tx, user, id)?;
    let referral = view(tx, index, user, &row, at)?;
    if referral.identification_id.is_some() || referral.profile.is_some() {
        audit::record(tx, &user.actor(), at, "referral.read", "referral", id, json!({ "person_shown": true }))?;
    }
    Ok(referral)
}

pub(super) fn deadline_job_key(referral_id: &ReferralId, kind: DeadlineKind) -> String {
    format!("referral:{referral_id}:deadline:{}", wire_code(kind))
}

pub fn comment(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    id: &ReferralId,
    request: &CreateReferralComment,
    at: NaiveDateTime,
) -> ApiResult<ReferralEvent> {
    let row = find_visible(tx, user, id)?;
    let text = request.text.trim();
    add_event(tx, &row.id, at, ReferralEventKind::Comment, Some(&user.user_id), Some(text), json!({}))?;
    audit::record(tx, &user.actor(), at, "referral.comment", "referral", id, json!({}))?;
    Ok(ReferralEvent {
        at: to_utc(at),
        kind: ReferralEventKind::Comment,
        actor: Some(terren_contract::identifications::PersonRef {
            id: parse_uuid(&user.user_id)?,
            display_name: user.display_name.clone(),
        }),
        note: Some(text.to_owned()),
        details: json!({}),
    })
}

pub fn timeline(conn: &mut DbConnection, user: &AuthUser, id: &ReferralId) -> ApiResult<Vec<ReferralEvent>> {
    let row = find_visible(conn, user, id)?;
    #[derive(Queryable)]
    struct EventRow {
        occurred_at: NaiveDateTime,
        kind: String,
        actor_user_id: Option<String>,
        note: Option<String>,
        details: String,
    }
    let events: Vec<EventRow> = referral_events::table
        .filter(referral_events::referral_id.eq(&row.id))
        .order((referral_events::occurred_at.asc(), referral_events::id.asc()))
        .select((
            referral_events::occurred_at,
            referral_events::kind,
            referral_events::actor_user_id,
            referral_events::note,
            referral_events::details,
        ))
        .load(conn)?;
    let actors: BTreeSet<String> = events.iter().filter_map(|e| e.actor_user_id.clone()).collect();
    let names = person_refs(conn, &actors)?;
    events
        .into_iter()
        .map(|event| {
            Ok(ReferralEvent {
                at: to_utc(event.occurred_at),
                kind: parse_wire_code(&event.kind)?,
                actor: event.actor_user_id.and_then(|a| names.get(&a).cloned()),
                note: event.note,
                details: serde_json::from_str(&event.details).unwrap_or_default(),
            })
        })
        .collect()
}

pub(super) fn agency_filter(conn: &mut DbConnection, field: &str, code_or_id: &str) -> ApiResult<AgencyId> {
    crate::agencies::service::resolve_id(conn, code_or_id)
        .map_err(|_| ApiError::field(field, FieldErrorCode::UnknownAgency, format!("no agency {code_or_id}")))
}

pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReferralListQuery,
    now: NaiveDateTime,
) -> ApiResult<ReferralPage> {
    if !(user.can(Permission::ReferralsCreate) || user.can(Permission::ReferralsRespond)) {
        return Err(ApiError::forbidden("this needs referrals_create or referrals_respond"));
    }
    crate::http::json::check_rules(query)?;
    let limit = i64::from(query.limit.unwrap_or(50));
    let mine = user.agency.id.clone();
    let sends = user.can(Permission::ReferralsCreate);
    let mut q = referrals::table.select(ReferralRow::as_select()).into_boxed();
    q = match query.r#box {
        Some(ReferralBox::Inbox) => q.filter(referrals::to_agency_id.eq(mine.clone())),
        Some(ReferralBox::Outbox) if sends => {
            q.filter(referrals::from_agency_id.eq(mine.clone()).or(referrals::origin_agency_id.eq(mine.clone())))
        }
        Some(ReferralBox::Outbox) | Some(ReferralBox::Mine) => q.filter(
            referrals::created_by.eq(user.user_id.clone()).or(referrals::origin_user_id.eq(user.user_id.clone())),
        ),
        None => q.filter(list_filter(user)),
    };
    if let Some(code) = &query.to_agency {
        q = q.filter(referrals::to_agency_id.eq(agency_filter(conn, "to_agency", code)?));
    }
    if let Some(code) = &query.from_agency {
        q = q.filter(referrals::from_agency_id.eq(agency_filter(conn, "from_agency", code)?));
    }
    if let Some(status) = query.status {
        q = q.filter(referrals::status.eq(wire_code(status)));
    }
    if query.open == Some(true) {
        let open: Vec<String> = ReferralStatus::OPEN.into_iter().map(wire_code).collect();
        q = q.filter(referrals::status.eq_any(open));
    }
    match query.overdue {
        Some(true) => q = q.filter(referrals::next_due_at.lt(now)),
        Some(false) => q = q.filter(referrals::next_due_at.is_null().or(referrals::next_due_at.ge(now))),
        None => {}
    }
    if let Some(priority) = query.priority {
        q = q.filter(referrals::priority.eq(wire_code(priority)));
    }
    if let Some(id) = query.identification_id {
        q = q.filter(referrals::identification_id.eq(id.to_string()));
    }
    if let Some(id) = query.profile_id {
        q = q.filter(referrals::profile_id.eq(id.to_string()));
    }
    if let Some(text) = &query.cursor {
        let (sent_at, id) = cursor::decode(text)
            .ok_or_else(|| ApiError::field("cursor", FieldErrorCode::InvalidCursor, "not a cursor of this list"))?;
        // The `sent_at <= …` bound is where both databases start the index scan; the `or` alone is
        // only a filter to them, so a deep page would read every newer referral of the agency.
        q = q
            .filter(referrals::sent_at.le(sent_at))
            .filter(referrals::sent_at.lt(sent_at).or(referrals::sent_at.eq(sent_at).and(referrals::id.lt(id))));
    }
    let mut rows: Vec<ReferralRow> =
        q.order((referrals::sent_at.desc(), referrals::id.desc())).limit(limit + 1).load(conn)?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(|last| cursor::encode(last.sent_at, &last.id))
    } else {
        None
    };
    rows.retain(|row| may_see(user, row));
    let items = views(conn, index, user, &rows, now)?;
    Ok(ReferralPage { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use terren_contract::referrals::DeadlineState;

    use super::*;

    fn at(hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(hour, 0, 0)).unwrap_or_default()
    }

    fn due_at_ten(met: Option<u32>, breached: Option<u32>, void: Option<u32>) -> DeadlineRow {
        DeadlineRow {
            referral_id: ReferralId::from_stored("r"),
            kind: "acknowledge".into(),
            due_at: at(10),
            met_at: met.map(at),
            breached_at: breached.map(at),
            void_at: void.map(at),
        }
    }

    #[test]
    fn a_deadline_is_judged_by_when_it_was_met_or_ended_not_by_when_the_checker_ran() {
        use DeadlineState::*;
        assert_eq!(due_at_ten(None, None, None).state(at(9)), Pending);
        assert_eq!(due_at_ten(None, None, None).state(at(11)), Breached, "overdue before the checker runs");
        assert_eq!(due_at_ten(Some(9), None, None).state(at(12)), Met);
        assert_eq!(due_at_ten(Some(11), None, None).state(at(12)), Breached, "met late");
        assert_eq!(due_at_ten(Some(11), Some(10), None).state(at(12)), Breached);
        assert_eq!(due_at_ten(None, None, Some(9)).state(at(12)), Void, "ended before it fell due");
        assert_eq!(due_at_ten(None, None, Some(11)).state(at(12)), Breached, "ended after it fell due");
    }
}
