//! Referrals: making one (routed, consent checked, deadlines set), its lifecycle as
//! compare-and-set transitions, what each side may see, lists, comments and timelines.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use terren_contract::Permission;
use terren_contract::alerts::{AlertSource, Severity};
use terren_contract::problem::FieldError;
use terren_contract::profiles::ProfileRef;
use terren_contract::referrals::{
    CloseReferral, CreateReferral, CreateReferralComment, Deadline, DeadlineKind, DeadlineState, DeclineReferral,
    ForwardReferral, Priority, Referral, ReferralAction, ReferralBox, ReferralEvent, ReferralListQuery, ReferralPage,
    ReferralStatus, ReferralSubject, Routing, Share, StartReferral,
};
use uuid::Uuid;

use super::deadlines::{self, Calendar};
use super::routing::{self, Case, Place};
use crate::accounts::service::{parse_uuid, person_refs};
use crate::alerts::service::{self as alerts_service, NewAlert, Transition};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{agencies, alerts, child_profiles, referral_deadlines, referral_events, referrals};
use crate::http::{ApiError, ApiResult, AuthUser, ErrorCode, cursor};
use crate::identifications::privacy::age_band;
use crate::identifications::service::{area_ref, codes, parse_codes};
use crate::outbox::{self, kinds};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::{is_active_code, parse_wire_code, wire_code};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referrals)]
pub struct ReferralRow {
    pub id: String,
    pub chain_id: String,
    pub origin_agency_id: String,
    pub origin_user_id: String,
    pub forwarded_from: Option<String>,
    pub forwarded_to: Option<String>,
    pub identification_id: Option<String>,
    pub profile_id: Option<String>,
    pub subject_type: String,
    pub age_band: String,
    pub sex: String,
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
    pub street_situations: String,
    pub risk_level: Option<String>,
    pub from_agency_id: String,
    pub to_agency_id: String,
    pub routing_method: String,
    pub route_id: Option<String>,
    pub priority: String,
    pub reasons: String,
    pub services: String,
    pub notes: Option<String>,
    pub share: String,
    pub consent_given_by: Option<String>,
    pub consent_override_reason: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub decline_reason: Option<String>,
    pub suggested_agency_id: Option<String>,
    pub created_by: String,
    pub device_id: String,
    pub made_at: Option<NaiveDateTime>,
    pub sent_at: NaiveDateTime,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub responded_by: Option<String>,
    pub responded_at: Option<NaiveDateTime>,
    pub contacted_at: Option<NaiveDateTime>,
    pub ended_by: Option<String>,
    pub ended_at: Option<NaiveDateTime>,
    pub next_due_at: Option<NaiveDateTime>,
    pub content_hash: String,
    pub version: i32,
    pub updated_at: NaiveDateTime,
}

impl ReferralRow {
    fn status(&self) -> ApiResult<ReferralStatus> {
        parse_wire_code(&self.status)
    }

    fn priority(&self) -> ApiResult<Priority> {
        parse_wire_code(&self.priority)
    }

    fn services(&self) -> Vec<String> {
        parse_codes(&self.services)
    }

    fn place(&self) -> Place {
        Place { municipality_id: self.municipality_id.clone(), admin_unit_id: self.admin_unit_id.clone() }
    }

    /// Accepted at some point (a forwarded or closed referral may have been).
    fn was_accepted(&self) -> bool {
        self.responded_at.is_some() && self.decline_reason.is_none()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = referral_deadlines)]
pub struct DeadlineRow {
    pub referral_id: String,
    pub kind: String,
    pub due_at: NaiveDateTime,
    pub met_at: Option<NaiveDateTime>,
    pub breached_at: Option<NaiveDateTime>,
    pub void_at: Option<NaiveDateTime>,
}

impl DeadlineRow {
    /// Met late or not met by its time is a breach, whether or not the checker ran yet.
    pub fn state(&self, now: NaiveDateTime) -> DeadlineState {
        match (self.met_at, self.breached_at, self.void_at) {
            (Some(met), _, _) if met <= self.due_at && self.breached_at.is_none() => DeadlineState::Met,
            (Some(_), _, _) | (None, Some(_), _) => DeadlineState::Breached,
            (None, None, Some(_)) => DeadlineState::Void,
            (None, None, None) if now > self.due_at => DeadlineState::Breached,
            (None, None, None) => DeadlineState::Pending,
        }
    }
}

pub fn load(conn: &mut DbConnection, id: &str) -> ApiResult<ReferralRow> {
    referrals::table
        .filter(referrals::id.eq(id))
        .select(ReferralRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("referral"))
}

/// The sending side: the agency that sent it or started its chain, the person who made it or
/// started the chain.
fn sender_side(user: &AuthUser, row: &ReferralRow) -> bool {
    row.created_by == user.user_id
        || row.origin_user_id == user.user_id
        || ((row.from_agency_id == user.agency.id || row.origin_agency_id == user.agency.id)
            && user.can(Permission::ReferralsCreate))
}

fn receiving_side(user: &AuthUser, row: &ReferralRow) -> bool {
    row.to_agency_id == user.agency.id
        && (user.can(Permission::ReferralsRespond) || user.can(Permission::ReferralsCreate))
}

fn may_see(user: &AuthUser, row: &ReferralRow) -> bool {
    sender_side(user, row) || receiving_side(user, row)
}

/// Whether the reader sees who the person is (the sighting and the profile): the sender's side
/// always, the receiving agency once it accepted a referral that shares details.
fn shows_person(user: &AuthUser, row: &ReferralRow) -> bool {
    sender_side(user, row)
        || (receiving_side(user, row) && row.share == wire_code(Share::Details) && row.was_accepted())
}

fn find_visible(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<ReferralRow> {
    let row = load(conn, id)?;
    if may_see(user, &row) { Ok(row) } else { Err(ApiError::not_found("referral")) }
}

fn opens(
    conn: &mut DbConnection,
    user: &AuthUser,
    identification: Option<&str>,
    profile: Option<&str>,
) -> ApiResult<bool> {
    let mut q = referrals::table
        .filter(referrals::to_agency_id.eq(&user.agency.id))
        .filter(referrals::share.eq(wire_code(Share::Details)))
        .filter(referrals::responded_at.is_not_null())
        .filter(referrals::decline_reason.is_null())
        .into_boxed();
    if let Some(id) = identification {
        q = q.filter(referrals::identification_id.eq(id.to_owned()));
    }
    if let Some(id) = profile {
        q = q.filter(referrals::profile_id.eq(id.to_owned()));
    }
    let count: i64 = q.count().get_result(conn)?;
    Ok(count > 0)
}

/// Whether an accepted referral that shares details opens this sighting to the reader's agency.
pub fn opens_identification(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<bool> {
    opens(conn, user, Some(id), None)
}

/// Whether an accepted referral that shares details opens this profile to the reader's agency.
pub fn opens_profile(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<bool> {
    opens(conn, user, None, Some(id))
}

pub fn add_event(
    conn: &mut DbConnection,
    referral_id: &str,
    at: NaiveDateTime,
    kind: &str,
    actor: Option<&str>,
    note: Option<&str>,
    details: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(referral_events::table)
        .values((
            referral_events::id.eq(Uuid::now_v7().to_string()),
            referral_events::referral_id.eq(referral_id),
            referral_events::occurred_at.eq(at),
            referral_events::kind.eq(kind),
            referral_events::actor_user_id.eq(actor),
            referral_events::note.eq(note),
            referral_events::details.eq(details.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

fn deadlines_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<HashMap<String, Vec<DeadlineRow>>> {
    let rows: Vec<DeadlineRow> = referral_deadlines::table
        .filter(referral_deadlines::referral_id.eq_any(ids))
        .select(DeadlineRow::as_select())
        .load(conn)?;
    let mut by_referral: HashMap<String, Vec<DeadlineRow>> = HashMap::new();
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
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut deadlines = deadlines_of(conn, &ids)?;
    let agency_ids: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| [Some(r.from_agency_id.clone()), Some(r.to_agency_id.clone()), r.suggested_agency_id.clone()])
        .flatten()
        .collect();
    let agency_refs: HashMap<String, terren_contract::auth::AgencyRef> = agencies::table
        .filter(agencies::id.eq_any(&agency_ids))
        .select((agencies::id, agencies::code, agencies::name))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, code, name)| Ok((id.clone(), terren_contract::auth::AgencyRef { id: parse_uuid(&id)?, code, name })))
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
                id: parse_uuid(&row.id)?,
                status: row.status()?,
                priority: row.priority()?,
                reasons: parse_codes(&row.reasons),
                services: row.services(),
                notes: row.notes.clone(),
                subject: ReferralSubject {
                    subject_type: row.subject_type.clone(),
                    age_band: row.age_band.clone(),
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
                    method: row.routing_method.clone(),
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
                forwarded_from: row.forwarded_from.as_deref().map(parse_uuid).transpose()?,
                forwarded_to: row.forwarded_to.as_deref().map(parse_uuid).transpose()?,
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
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Referral> {
    let row = find_visible(conn, user, id)?;
    let referral = view(conn, index, user, &row, at)?;
    if referral.identification_id.is_some() || referral.profile.is_some() {
        audit::record(conn, &user.actor(), at, "referral.read", "referral", id, json!({ "person_shown": true }))?;
    }
    Ok(referral)
}

/// Who the referral is about, from its sighting or profile.
struct Subject {
    identification_id: Option<String>,
    profile_id: Option<String>,
    subject_type: String,
    age_band: String,
    sex: String,
    place: Place,
    street_situations: Vec<String>,
    risk_level: Option<String>,
}

fn subject_of(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    identification_id: Option<Uuid>,
    profile_id: Option<Uuid>,
    at: NaiveDateTime,
) -> ApiResult<Subject> {
    use chrono::Datelike;
    let sighting = match identification_id {
        Some(id) => {
            Some(crate::identifications::service::find_in_scope(conn, index, user, &id.to_string()).map_err(|_| {
                ApiError::field("identification_id", "unknown_identification", "no such sighting within your scope")
            })?)
        }
        None => None,
    };
    let linked = match &sighting {
        Some(row) => crate::profiles::service::linked_profile(conn, &row.id)?.map(|p| p.id.to_string()),
        None => None,
    };
    let profile = match profile_id.map(|id| id.to_string()).or(linked.clone()) {
        Some(id) => Some(
            crate::profiles::service::find_for_referral(conn, index, user, &id)
                .map_err(|_| ApiError::field("profile_id", "unknown_profile", "no such profile within your scope"))?,
        ),
        None => None,
    };
    if let (Some(profile), Some(linked)) = (&profile, &linked)
        && profile.id != *linked
    {
        return Err(ApiError::field("profile_id", "profile_mismatch", "the sighting is linked to another profile"));
    }
    match (sighting, profile) {
        (Some(s), profile) => Ok(Subject {
            identification_id: Some(s.id.clone()),
            profile_id: profile.map(|p| p.id),
            subject_type: s.subject_type,
            age_band: s.age_band,
            sex: s.sex,
            place: Place { municipality_id: s.municipality_id, admin_unit_id: s.admin_unit_id },
            street_situations: parse_codes(&s.street_situations),
            risk_level: Some(s.risk_level),
        }),
        (None, Some(p)) => Ok(Subject {
            identification_id: None,
            profile_id: Some(p.id),
            subject_type: p.subject_type,
            age_band: age_band(p.birth_year.map(|born| at.year() - born)).to_owned(),
            sex: p.sex,
            place: Place { municipality_id: p.municipality_id, admin_unit_id: p.admin_unit_id },
            street_situations: Vec::new(),
            risk_level: None,
        }),
        (None, None) => Err(ApiError::field("identification_id", "required", "name a sighting or a child profile")),
    }
}

fn check_codes(
    conn: &mut DbConnection,
    vocabulary: &str,
    field: &str,
    values: &[String],
    errors: &mut Vec<FieldError>,
) -> QueryResult<()> {
    for (i, code) in values.iter().enumerate() {
        if !is_active_code(conn, vocabulary, code)? {
            errors.push(FieldError {
                field: format!("{field}[{i}]"),
                code: "unknown_code".into(),
                message: format!("{code} is not a {vocabulary} code"),
            });
        }
    }
    Ok(())
}

fn content_hash(request: &CreateReferral) -> ApiResult<String> {
    let body = serde_json::to_vec(request).map_err(anyhow::Error::from)?;
    Ok(crate::auth::tokens::hex(&Sha256::digest(&body)))
}

/// Everything a new referral starts with besides its own fields.
struct Start {
    row: ReferralRow,
    /// For the `sent` event: the rule's key when routed by the table.
    route_key: Option<String>,
}

/// Writes a new referral: its row, deadlines and their checks, the `sent` event, and for an
/// emergency the alert to the receiving agency's duty rota.
fn open(conn: &mut DbConnection, index: &TerritoryIndex, actor: &Actor, start: Start) -> ApiResult<()> {
    let Start { mut row, route_key } = start;
    let at = row.sent_at;
    let (zone, agency_municipality): (String, Option<String>) = agencies::table
        .filter(agencies::id.eq(&row.to_agency_id))
        .select((agencies::time_zone, agencies::municipality_id))
        .get_result(conn)?;
    let tz = crate::rota::layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane);
    let (policy, scope) =
        deadlines::policy_for(conn, agency_municipality.as_deref().or(row.municipality_id.as_deref()))?;
    let calendar = Calendar::parse(&policy.working_calendar).map_err(|errors| {
        ApiError::internal(anyhow::anyhow!("stored deadline policy {scope} is invalid: {errors:?}"))
    })?;
    let mut dues = Vec::new();
    for (kind, span) in deadlines::spans(&policy, row.priority()?)? {
        let due = crate::clock::truncate(deadlines::due_after(to_utc(at), span, &calendar, tz)?);
        dues.push((kind, due));
    }
    row.next_due_at = dues.iter().map(|(_, due)| *due).min();
    diesel::insert_into(referrals::table).values(&row).execute(conn)?;
    for (kind, due) in &dues {
        diesel::insert_into(referral_deadlines::table)
            .values((
                referral_deadlines::referral_id.eq(&row.id),
                referral_deadlines::kind.eq(wire_code(*kind)),
                referral_deadlines::due_at.eq(due),
            ))
            .execute(conn)?;
        outbox::enqueue(
            conn,
            kinds::REFERRAL_DEADLINE,
            &json!({ "referral_id": row.id, "kind": kind }),
            &deadline_job_key(&row.id, *kind),
            *due,
            at,
        )?;
    }
    add_event(
        conn,
        &row.id,
        at,
        "sent",
        actor.user_id.as_deref(),
        None,
        json!({
            "to_agency_id": row.to_agency_id,
            "routing": row.routing_method,
            "route_key": route_key,
            "deadline_policy": scope,
        }),
    )?;
    if row.priority == wire_code(Priority::Emergency) {
        alert_emergency(conn, index, actor, &row)?;
    }
    Ok(())
}

fn deadline_job_key(referral_id: &str, kind: DeadlineKind) -> String {
    format!("referral:{referral_id}:deadline:{}", wire_code(kind))
}

/// The alert that pages the receiving agency's duty rota for an emergency referral. When the
/// sighting already paged the same agency and that alert is still open, the referral joins it
/// instead of paging the same people twice.
fn alert_emergency(conn: &mut DbConnection, index: &TerritoryIndex, actor: &Actor, row: &ReferralRow) -> ApiResult<()> {
    let at = row.sent_at;
    if let Some(identification) = &row.identification_id {
        let open: Option<String> = alerts::table
            .filter(alerts::open_key.eq(format!("identification:{identification}")))
            .filter(alerts::agency_id.eq(&row.to_agency_id))
            .select(alerts::id)
            .get_result(conn)
            .optional()?;
        if let Some(alert_id) = open {
            diesel::update(alerts::table.filter(alerts::id.eq(&alert_id)).filter(alerts::referral_id.is_null()))
                .set(alerts::referral_id.eq(&row.id))
                .execute(conn)?;
            alerts_service::add_event(
                conn,
                &alert_id,
                at,
                "referral_linked",
                actor.user_id.as_deref(),
                None,
                json!({ "referral_id": row.id }),
            )?;
            add_event(conn, &row.id, at, "alert_raised", None, None, json!({ "alert_id": alert_id, "joined": true }))?;
            return Ok(());
        }
    }
    let place = row.admin_unit_id.as_ref().or(row.municipality_id.as_ref());
    let place_name = area_ref(index, &place.cloned()).map(|a| a.name);
    let new = NewAlert {
        severity: Severity::Emergency,
        source: AlertSource::Referral,
        agency_id: row.to_agency_id.clone(),
        area_id: place.cloned(),
        title: match place_name {
            Some(name) => format!("Referim emergjent / Emergency referral — {name}"),
            None => "Referim emergjent / Emergency referral".to_owned(),
        },
        details: None,
        dedup_key: Some(format!("referral:{}", row.id)),
        identification_id: None,
        profile_id: None,
        referral_id: Some(row.id.clone()),
        policy: None,
    };
    let (alert_id, _) = alerts_service::raise(conn, actor, new, at)?;
    add_event(conn, &row.id, at, "alert_raised", None, None, json!({ "alert_id": alert_id }))?;
    Ok(())
}

/// The answer to a create: the referral, and whether it was new (201) or already there (200).
pub struct Created {
    pub referral: Referral,
    pub new: bool,
}

pub fn create(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &CreateReferral,
    at: NaiveDateTime,
) -> ApiResult<Created> {
    user.require(Permission::ReferralsCreate)?;
    let id = request.id.to_string();
    let hash = content_hash(request)?;
    if let Ok(existing) = load(conn, &id) {
        if existing.created_by == user.user_id && existing.content_hash == hash {
            return Ok(Created { referral: view(conn, index, user, &existing, at)?, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different referral has this id"));
    }
    let subject = subject_of(conn, index, user, request.identification_id, request.profile_id, at)?;
    let mut errors = Vec::new();
    check_codes(conn, "problem_category", "reasons", &request.reasons, &mut errors)?;
    check_codes(conn, "referral_service", "services", &request.services, &mut errors)?;
    if let Some(given_by) = &request.consent_given_by {
        check_codes(conn, "consent_given_by", "consent_given_by", std::slice::from_ref(given_by), &mut errors)?;
    }
    if request.made_at.is_some_and(|made| made.naive_utc() > at + chrono::Duration::minutes(5)) {
        errors.push(FieldError {
            field: "made_at".into(),
            code: "in_future".into(),
            message: "made_at is later than now".into(),
        });
    }
    if request.share == Share::Details
        && request.consent_given_by.is_none()
        && request.consent_override_reason.is_none()
    {
        errors.push(FieldError {
            field: "consent_given_by".into(),
            code: "consent_required".into(),
            message: "sharing details needs recorded consent or a consent_override_reason".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let overriding = request.share == Share::Details && request.consent_given_by.is_none();
    if overriding && !user.can(Permission::ReferralsOverrideConsent) {
        return Err(ApiError::forbidden("sharing details without consent needs referrals_override_consent"));
    }
    let case = Case { place: &subject.place, subject_type: &subject.subject_type, services: &request.services };
    let (agency, method, rule) = match request.to_agency_id {
        Some(chosen) => {
            let agency = routing::check_choice(conn, index, user, "to_agency_id", &chosen.to_string(), case)?;
            (agency, "chosen", None)
        }
        None => {
            let routed = routing::route(conn, index, case, &[])?.ok_or_else(|| {
                ApiError::field(
                    "to_agency_id",
                    "no_responsible_agency",
                    "no agency in the routing table serves this place for this person; choose one",
                )
            })?;
            (routed.agency, "rule", Some(routed.rule_id))
        }
    };
    let route_key = match &rule {
        Some(rule_id) => Some(
            crate::db::schema::referral_routes::table
                .filter(crate::db::schema::referral_routes::id.eq(rule_id))
                .select(crate::db::schema::referral_routes::route_key)
                .get_result::<String>(conn)?,
        ),
        None => None,
    };
    let row = ReferralRow {
        id: id.clone(),
        chain_id: id.clone(),
        origin_agency_id: user.agency.id.clone(),
        origin_user_id: user.user_id.clone(),
        forwarded_from: None,
        forwarded_to: None,
        identification_id: subject.identification_id,
        profile_id: subject.profile_id,
        subject_type: subject.subject_type,
        age_band: subject.age_band,
        sex: subject.sex,
        municipality_id: subject.place.municipality_id,
        admin_unit_id: subject.place.admin_unit_id,
        street_situations: codes(&subject.street_situations),
        risk_level: subject.risk_level,
        from_agency_id: user.agency.id.clone(),
        to_agency_id: agency.id.clone(),
        routing_method: method.into(),
        route_id: rule,
        priority: wire_code(request.priority),
        reasons: codes(&request.reasons),
        services: codes(&request.services),
        notes: request.notes.clone(),
        share: wire_code(request.share),
        consent_given_by: request.consent_given_by.clone(),
        consent_override_reason: request.consent_override_reason.clone().filter(|_| overriding),
        status: wire_code(ReferralStatus::Sent),
        outcome: None,
        decline_reason: None,
        suggested_agency_id: None,
        created_by: user.user_id.clone(),
        device_id: user.device_id.clone(),
        made_at: request.made_at.map(|t| t.naive_utc()),
        sent_at: at,
        acknowledged_by: None,
        acknowledged_at: None,
        responded_by: None,
        responded_at: None,
        contacted_at: None,
        ended_by: None,
        ended_at: None,
        next_due_at: None,
        content_hash: hash,
        version: 1,
        updated_at: at,
    };
    open(conn, index, &user.actor(), Start { row: row.clone(), route_key })?;
    if overriding {
        add_event(
            conn,
            &id,
            at,
            "consent_override",
            Some(&user.user_id),
            request.consent_override_reason.as_deref(),
            json!({}),
        )?;
    }
    let created = load(conn, &id)?;
    let referral = view(conn, index, user, &created, at)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "referral.create",
        "referral",
        &id,
        json!({
            "to_agency_id": created.to_agency_id,
            "priority": created.priority,
            "share": created.share,
            "consent_given_by": created.consent_given_by,
            "consent_override": overriding,
            "identification_id": created.identification_id,
            "profile_id": created.profile_id,
        }),
    )?;
    Ok(Created { referral, new: true })
}

/// A step of the lifecycle, with what it carries.
pub enum Step {
    Acknowledge(ReferralAction),
    Accept(ReferralAction),
    Decline(DeclineReferral),
    Start(StartReferral),
    Close(CloseReferral),
    Cancel(ReferralAction),
    Forward(ForwardReferral),
}

impl Step {
    fn target(&self) -> ReferralStatus {
        match self {
            Step::Acknowledge(_) => ReferralStatus::Acknowledged,
            Step::Accept(_) => ReferralStatus::Accepted,
            Step::Decline(_) => ReferralStatus::Declined,
            Step::Start(_) => ReferralStatus::InProgress,
            Step::Close(_) => ReferralStatus::Closed,
            Step::Cancel(_) => ReferralStatus::Cancelled,
            Step::Forward(_) => ReferralStatus::Forwarded,
        }
    }

    fn allowed_from(&self) -> Vec<ReferralStatus> {
        use ReferralStatus::*;
        match self {
            Step::Acknowledge(_) => vec![Sent],
            Step::Accept(_) | Step::Decline(_) => vec![Sent, Acknowledged],
            Step::Start(_) => vec![Accepted],
            Step::Close(_) => vec![Accepted, InProgress],
            Step::Cancel(_) | Step::Forward(_) => vec![Sent, Acknowledged, Accepted, InProgress],
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            Step::Acknowledge(a) | Step::Accept(a) | Step::Cancel(a) => a.note.as_deref(),
            Step::Decline(d) => d.note.as_deref(),
            Step::Start(s) => s.note.as_deref(),
            Step::Close(c) => c.note.as_deref(),
            Step::Forward(f) => Some(&f.note),
        }
    }

    /// The deadlines this step meets.
    fn meets(&self) -> &'static [DeadlineKind] {
        match self {
            Step::Acknowledge(_) | Step::Accept(_) | Step::Decline(_) | Step::Forward(_) => {
                &[DeadlineKind::Acknowledge]
            }
            Step::Start(_) => &[DeadlineKind::FirstContact],
            Step::Close(_) => &[DeadlineKind::Outcome],
            Step::Cancel(_) => &[],
        }
    }
}

fn refused(row: &ReferralRow, step: &Step) -> ApiResult<ApiError> {
    let status = row.status()?;
    let possible: Vec<String> = step.allowed_from().into_iter().map(wire_code).collect();
    Ok(if status.is_open() {
        ApiError::new(ErrorCode::InvalidTransition).with_detail(format!(
            "the referral is {}; this step is possible from {}",
            row.status,
            possible.join(", ")
        ))
    } else {
        ApiError::new(ErrorCode::ReferralEnded).with_detail(format!("the referral is {}", row.status))
    })
}

/// Marks deadlines met (at `met_at`) or void, if still open, and recomputes `next_due_at`.
/// Returns the kinds settled.
fn settle_deadlines(
    conn: &mut DbConnection,
    referral_id: &str,
    met: &[(DeadlineKind, NaiveDateTime)],
    void_rest: bool,
    at: NaiveDateTime,
) -> QueryResult<Vec<DeadlineKind>> {
    let mut settled = Vec::new();
    for (kind, met_at) in met {
        let changed = diesel::update(
            referral_deadlines::table
                .filter(referral_deadlines::referral_id.eq(referral_id))
                .filter(referral_deadlines::kind.eq(wire_code(*kind)))
                .filter(referral_deadlines::met_at.is_null())
                .filter(referral_deadlines::void_at.is_null()),
        )
        .set(referral_deadlines::met_at.eq(met_at))
        .execute(conn)?;
        if changed == 1 {
            settled.push(*kind);
        }
    }
    if void_rest {
        for kind in DeadlineKind::ALL {
            let changed = diesel::update(
                referral_deadlines::table
                    .filter(referral_deadlines::referral_id.eq(referral_id))
                    .filter(referral_deadlines::kind.eq(wire_code(kind)))
                    .filter(referral_deadlines::met_at.is_null())
                    .filter(referral_deadlines::void_at.is_null()),
            )
            .set(referral_deadlines::void_at.eq(at))
            .execute(conn)?;
            if changed == 1 {
                settled.push(kind);
            }
        }
    }
    let next: Option<NaiveDateTime> = referral_deadlines::table
        .filter(referral_deadlines::referral_id.eq(referral_id))
        .filter(referral_deadlines::met_at.is_null())
        .filter(referral_deadlines::void_at.is_null())
        .select(diesel::dsl::min(referral_deadlines::due_at))
        .get_result(conn)?;
    diesel::update(referrals::table.filter(referrals::id.eq(referral_id)))
        .set(referrals::next_due_at.eq(next))
        .execute(conn)?;
    Ok(settled)
}

/// Open alerts about the referral whose dedup key starts with `prefix`.
fn open_alerts(conn: &mut DbConnection, referral_id: &str, prefix: &str) -> QueryResult<Vec<String>> {
    alerts::table
        .filter(alerts::referral_id.eq(referral_id))
        .filter(alerts::open_key.like(format!("{}%", crate::db::like_literal(prefix))))
        .select(alerts::id)
        .load(conn)
}

/// The open emergency page of the referral: its own, or the sighting's that it joined.
fn emergency_alerts(conn: &mut DbConnection, row: &ReferralRow) -> QueryResult<Vec<String>> {
    let mut keys = vec![format!("referral:{}", row.id)];
    if let Some(identification) = &row.identification_id {
        keys.push(format!("identification:{identification}"));
    }
    alerts::table
        .filter(alerts::referral_id.eq(&row.id))
        .filter(alerts::open_key.eq_any(keys))
        .select(alerts::id)
        .load(conn)
}

/// Alerts follow the referral: answering it acknowledges its emergency page; deadlines met or
/// void resolve their breach alerts; the end of the referral resolves everything still open.
fn settle_alerts(
    conn: &mut DbConnection,
    row: &ReferralRow,
    step: &Step,
    settled: &[DeadlineKind],
    actor: &str,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let target = step.target();
    let note = format!("referral {}", wire_code(target));
    let emergency = emergency_alerts(conn, row)?;
    let mut deadline_alerts = Vec::new();
    for kind in settled {
        deadline_alerts.extend(open_alerts(conn, &row.id, &deadline_job_key(&row.id, *kind))?);
    }
    alerts_service::settle(conn, &deadline_alerts, Transition::Resolve, Some(actor), &note, at)?;
    if target.is_open() {
        alerts_service::settle(conn, &emergency, Transition::Acknowledge, Some(actor), &note, at)?;
    } else {
        let everything = open_alerts(conn, &row.id, "")?;
        alerts_service::settle(conn, &everything, Transition::Resolve, Some(actor), &note, at)?;
    }
    Ok(())
}

fn check_step(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ReferralRow,
    step: &Step,
    at: NaiveDateTime,
) -> ApiResult<()> {
    match step {
        Step::Cancel(_) => {
            if !sender_side(user, row) || !(row.created_by == user.user_id || user.can(Permission::ReferralsCreate)) {
                return Err(ApiError::forbidden("a referral is cancelled by its sender"));
            }
        }
        _ => {
            if !(row.to_agency_id == user.agency.id && user.can(Permission::ReferralsRespond)) {
                return Err(ApiError::forbidden("only the receiving agency answers a referral (referrals_respond)"));
            }
        }
    }
    match step {
        Step::Decline(decline) => {
            if !is_active_code(conn, "referral_decline_reason", &decline.reason)? {
                return Err(ApiError::field(
                    "reason",
                    "unknown_code",
                    format!("{} is not a referral_decline_reason code", decline.reason),
                ));
            }
            if let Some(id) = decline.suggested_agency_id
                && routing::candidate(conn, &id.to_string())?.is_none()
            {
                return Err(ApiError::field("suggested_agency_id", "unknown_agency", "no such active agency"));
            }
        }
        Step::Start(start) => {
            if let Some(contacted) = start.contacted_at.map(|t| t.naive_utc()) {
                if contacted > at + chrono::Duration::minutes(5) {
                    return Err(ApiError::field("contacted_at", "in_future", "contacted_at is later than now"));
                }
                if contacted < row.sent_at {
                    return Err(ApiError::field(
                        "contacted_at",
                        "before_sent",
                        "contacted_at is before the referral was sent",
                    ));
                }
            }
        }
        Step::Close(close) => {
            let Some(outcome) = &close.outcome else {
                return Err(ApiError::field(
                    "outcome",
                    "outcome_required",
                    "a referral is closed with a referral_outcome",
                ));
            };
            if !is_active_code(conn, "referral_outcome", outcome)? {
                return Err(ApiError::field(
                    "outcome",
                    "unknown_code",
                    format!("{outcome} is not a referral_outcome code"),
                ));
            }
        }
        Step::Forward(forward) => {
            let target = forward.to_agency_id.to_string();
            if target == row.to_agency_id {
                return Err(ApiError::field("to_agency_id", "invalid_value", "forward to another agency"));
            }
            let (place, services) = (row.place(), row.services());
            let case = Case { place: &place, subject_type: &row.subject_type, services: &services };
            routing::check_choice(conn, index, user, "to_agency_id", &target, case)?;
        }
        Step::Acknowledge(_) | Step::Accept(_) | Step::Cancel(_) => {}
    }
    Ok(())
}

/// Whether the same person already took this step (a retry from a phone).
fn already_done(user: &AuthUser, row: &ReferralRow, step: &Step) -> ApiResult<bool> {
    if row.status()? != step.target() {
        return Ok(false);
    }
    let by = match step {
        Step::Acknowledge(_) => row.acknowledged_by.as_deref(),
        Step::Accept(_) | Step::Start(_) => row.responded_by.as_deref(),
        Step::Decline(_) | Step::Close(_) | Step::Cancel(_) | Step::Forward(_) => row.ended_by.as_deref(),
    };
    Ok(by == Some(user.user_id.as_str()))
}

/// Takes a shelter place when a shelter accepts a placement; refused when none is free. The
/// count moves by compare-and-set on the value read, so two acceptances never take one place.
fn take_shelter_place(conn: &mut DbConnection, row: &ReferralRow) -> ApiResult<()> {
    if !row.services().iter().any(|s| s == routing::SHELTER_PLACEMENT) {
        return Ok(());
    }
    for _ in 0..5 {
        let Some(agency) = routing::candidate(conn, &row.to_agency_id)? else { return Ok(()) };
        if agency.agency_type != routing::SHELTER {
            return Ok(());
        }
        let taken = agency.occupied.unwrap_or(0) + 1;
        if agency.capacity.is_some_and(|capacity| taken > capacity) {
            return Err(ApiError::new(ErrorCode::ShelterFull).with_detail(format!("{} has no free place", agency.code)));
        }
        let scope = agencies::table.filter(agencies::id.eq(&agency.id));
        let changed = match agency.occupied {
            Some(was) => diesel::update(scope.filter(agencies::occupied.eq(was)))
                .set(agencies::occupied.eq(taken))
                .execute(conn)?,
            None => diesel::update(scope.filter(agencies::occupied.is_null()))
                .set(agencies::occupied.eq(taken))
                .execute(conn)?,
        };
        if changed == 1 {
            return Ok(());
        }
    }
    Err(ApiError::new(ErrorCode::Conflict).with_detail("the shelter's occupancy kept changing; try again"))
}

/// Takes a step of the lifecycle. The change happens only from the states it may happen from
/// (one compare-and-set); a concurrent or late request is told what happened instead. Repeating
/// your own step is answered with the referral as it is.
pub fn transition(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    step: Step,
    at: NaiveDateTime,
) -> ApiResult<Referral> {
    let row = find_visible(conn, user, id)?;
    if already_done(user, &row, &step)? {
        return view(conn, index, user, &row, at);
    }
    check_step(conn, index, user, &row, &step, at)?;
    let target = wire_code(step.target());
    let allowed: Vec<String> = step.allowed_from().into_iter().map(wire_code).collect();
    let scope = referrals::table.filter(referrals::id.eq(id)).filter(referrals::status.eq_any(&allowed));
    let me = Some(user.user_id.clone());
    let base =
        (referrals::status.eq(&target), referrals::version.eq(referrals::version + 1), referrals::updated_at.eq(at));
    let first_answer = row.acknowledged_at.is_none();
    let met_at = match &step {
        Step::Start(start) => start.contacted_at.map_or(at, crate::clock::truncate),
        _ => at,
    };
    let changed = match &step {
        Step::Acknowledge(_) => diesel::update(scope)
            .set((base, referrals::acknowledged_by.eq(&me), referrals::acknowledged_at.eq(at)))
            .execute(conn)?,
        Step::Accept(_) => {
            let changed = diesel::update(scope)
                .set((base, referrals::responded_by.eq(&me), referrals::responded_at.eq(at)))
                .execute(conn)?;
            if changed == 1 {
                take_shelter_place(conn, &row)?;
            }
            changed
        }
        Step::Decline(decline) => {
            let suggested = match decline.suggested_agency_id {
                Some(agency) => Some(agency.to_string()),
                None => suggest_next(conn, index, &row)?,
            };
            diesel::update(scope)
                .set((
                    base,
                    referrals::responded_by.eq(&me),
                    referrals::responded_at.eq(at),
                    referrals::decline_reason.eq(&decline.reason),
                    referrals::suggested_agency_id.eq(suggested),
                    referrals::ended_by.eq(&me),
                    referrals::ended_at.eq(at),
                ))
                .execute(conn)?
        }
        Step::Start(_) => diesel::update(scope).set((base, referrals::contacted_at.eq(met_at))).execute(conn)?,
        Step::Close(close) => diesel::update(scope)
            .set((base, referrals::outcome.eq(&close.outcome), referrals::ended_by.eq(&me), referrals::ended_at.eq(at)))
            .execute(conn)?,
        Step::Cancel(_) | Step::Forward(_) => {
            diesel::update(scope).set((base, referrals::ended_by.eq(&me), referrals::ended_at.eq(at))).execute(conn)?
        }
    };
    if changed == 0 {
        return Err(refused(&load(conn, id)?, &step)?);
    }
    // Answering without acknowledging first still stamps who answered first.
    if first_answer && matches!(step, Step::Accept(_) | Step::Decline(_) | Step::Forward(_)) {
        diesel::update(referrals::table.filter(referrals::id.eq(id)))
            .set((referrals::acknowledged_by.eq(&me), referrals::acknowledged_at.eq(at)))
            .execute(conn)?;
    }
    let met: Vec<(DeadlineKind, NaiveDateTime)> = step.meets().iter().map(|kind| (*kind, met_at)).collect();
    let settled = settle_deadlines(conn, id, &met, !step.target().is_open(), at)?;
    for kind in &settled {
        let deadline: DeadlineRow = referral_deadlines::table
            .filter(referral_deadlines::referral_id.eq(id))
            .filter(referral_deadlines::kind.eq(wire_code(*kind)))
            .select(DeadlineRow::as_select())
            .get_result(conn)?;
        if deadline.met_at.is_some() && deadline.state(at) == DeadlineState::Met {
            add_event(conn, id, at, "deadline_met", None, None, json!({ "deadline": kind }))?;
        }
    }
    settle_alerts(conn, &row, &step, &settled, &user.user_id, at)?;
    let mut details = json!({ "from": row.status });
    match &step {
        Step::Decline(decline) => {
            details["reason"] = json!(decline.reason);
            let updated = load(conn, id)?;
            details["suggested_agency_id"] = json!(updated.suggested_agency_id);
            alert_sender_of_decline(conn, &updated, at)?;
        }
        Step::Close(close) => details["outcome"] = json!(close.outcome),
        Step::Start(_) => details["contacted_at"] = json!(to_utc(met_at)),
        Step::Forward(forward) => {
            let next = forward_to(conn, index, user, &row, forward, at)?;
            diesel::update(referrals::table.filter(referrals::id.eq(id)))
                .set(referrals::forwarded_to.eq(&next))
                .execute(conn)?;
            details["forwarded_to"] = json!(next);
        }
        Step::Acknowledge(_) | Step::Accept(_) | Step::Cancel(_) => {}
    }
    add_event(conn, id, at, &target, Some(&user.user_id), step.note(), details.clone())?;
    let updated = load(conn, id)?;
    let referral = view(conn, index, user, &updated, at)?;
    audit::record(conn, &user.actor(), at, &format!("referral.{target}"), "referral", id, details)?;
    Ok(referral)
}

/// The agency the sender could try after a decline: the routing table's choice, passing over
/// every agency that already had this person in the chain.
fn suggest_next(conn: &mut DbConnection, index: &TerritoryIndex, row: &ReferralRow) -> ApiResult<Option<String>> {
    let tried: Vec<String> =
        referrals::table.filter(referrals::chain_id.eq(&row.chain_id)).select(referrals::to_agency_id).load(conn)?;
    let (place, services) = (row.place(), row.services());
    let case = Case { place: &place, subject_type: &row.subject_type, services: &services };
    if let Some(routed) = routing::route(conn, index, case, &tried)? {
        return Ok(Some(routed.agency.id));
    }
    Ok(routing::serving(conn, index, &place)?
        .into_iter()
        .find(|a| {
            !tried.contains(&a.id) && routing::takes(&a.agency_type, &row.subject_type) && a.id != row.from_agency_id
        })
        .map(|a| a.id))
}

fn severity_of(priority: Priority) -> Severity {
    match priority {
        Priority::Emergency => Severity::Emergency,
        Priority::High => Severity::High,
        Priority::Medium | Priority::Low => Severity::Normal,
    }
}

/// A declined referral goes back to the sender's coordinators, with the suggestion.
fn alert_sender_of_decline(conn: &mut DbConnection, row: &ReferralRow, at: NaiveDateTime) -> ApiResult<()> {
    let suggestion = match &row.suggested_agency_id {
        Some(id) => Some(crate::accounts::service::agency_ref_of(conn, id)?),
        None => None,
    };
    let to = crate::accounts::service::agency_ref_of(conn, &row.to_agency_id)?;
    let details = match &suggestion {
        Some(next) => format!(
            "{} refuzoi / declined ({}). Sugjerim / Suggested: {}",
            to.name,
            row.decline_reason.clone().unwrap_or_default(),
            next.name
        ),
        None => format!("{} refuzoi / declined ({})", to.name, row.decline_reason.clone().unwrap_or_default()),
    };
    let new = NewAlert {
        severity: severity_of(row.priority()?),
        source: AlertSource::ReferralDeclined,
        agency_id: row.from_agency_id.clone(),
        area_id: row.admin_unit_id.clone().or(row.municipality_id.clone()),
        title: "Referimi u refuzua / Referral declined".into(),
        details: Some(details),
        dedup_key: Some(format!("referral:{}:declined", row.id)),
        identification_id: None,
        profile_id: None,
        referral_id: Some(row.id.clone()),
        policy: Some(crate::alerts::coverage::coordinators_only()),
    };
    let (alert_id, _) = alerts_service::raise(conn, &Actor::system(), new, at)?;
    add_event(conn, &row.id, at, "sender_alerted", None, None, json!({ "alert_id": alert_id, "why": "declined" }))?;
    Ok(())
}

/// Starts the next referral of the chain at another agency; returns its id.
fn forward_to(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ReferralRow,
    forward: &ForwardReferral,
    at: NaiveDateTime,
) -> ApiResult<String> {
    let next_id = Uuid::now_v7().to_string();
    let next = ReferralRow {
        id: next_id.clone(),
        forwarded_from: Some(row.id.clone()),
        forwarded_to: None,
        from_agency_id: user.agency.id.clone(),
        to_agency_id: forward.to_agency_id.to_string(),
        routing_method: "forward".into(),
        route_id: None,
        status: wire_code(ReferralStatus::Sent),
        outcome: None,
        decline_reason: None,
        suggested_agency_id: None,
        created_by: user.user_id.clone(),
        device_id: user.device_id.clone(),
        made_at: None,
        sent_at: at,
        acknowledged_by: None,
        acknowledged_at: None,
        responded_by: None,
        responded_at: None,
        contacted_at: None,
        ended_by: None,
        ended_at: None,
        next_due_at: None,
        content_hash: String::new(),
        version: 1,
        updated_at: at,
        ..row.clone()
    };
    open(conn, index, &user.actor(), Start { row: next, route_key: None })?;
    add_event(
        conn,
        &next_id,
        at,
        "forwarded_from",
        Some(&user.user_id),
        Some(&forward.note),
        json!({ "referral_id": row.id }),
    )?;
    Ok(next_id)
}

pub fn comment(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: &str,
    request: &CreateReferralComment,
    at: NaiveDateTime,
) -> ApiResult<ReferralEvent> {
    let row = find_visible(conn, user, id)?;
    add_event(conn, &row.id, at, "comment", Some(&user.user_id), Some(request.text.trim()), json!({}))?;
    audit::record(conn, &user.actor(), at, "referral.comment", "referral", id, json!({}))?;
    Ok(ReferralEvent {
        at: to_utc(at),
        kind: "comment".into(),
        actor: Some(terren_contract::identifications::PersonRef {
            id: parse_uuid(&user.user_id)?,
            display_name: user.display_name.clone(),
        }),
        note: Some(request.text.trim().to_owned()),
        details: json!({}),
    })
}

pub fn timeline(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<Vec<ReferralEvent>> {
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
    Ok(events
        .into_iter()
        .map(|event| ReferralEvent {
            at: to_utc(event.occurred_at),
            kind: event.kind,
            actor: event.actor_user_id.and_then(|a| names.get(&a).cloned()),
            note: event.note,
            details: serde_json::from_str(&event.details).unwrap_or_default(),
        })
        .collect())
}

fn agency_filter(conn: &mut DbConnection, field: &str, code_or_id: &str) -> ApiResult<String> {
    crate::agencies::service::resolve_id(conn, code_or_id)
        .map_err(|_| ApiError::field(field, "unknown_agency", format!("no agency {code_or_id}")))
}

type Backend = <DbConnection as diesel::Connection>::Backend;
type VisibleFilter = Box<dyn BoxableExpression<referrals::table, Backend, SqlType = diesel::sql_types::Bool>>;

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
    let limit = i64::from(query.limit.unwrap_or(50));
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", "1 to 200"));
    }
    let mine = user.agency.id.clone();
    let responds = user.can(Permission::ReferralsRespond) || user.can(Permission::ReferralsCreate);
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
        None => {
            let mut visible: VisibleFilter = Box::new(
                referrals::created_by.eq(user.user_id.clone()).or(referrals::origin_user_id.eq(user.user_id.clone())),
            );
            if responds {
                visible = Box::new(visible.or(referrals::to_agency_id.eq(mine.clone())));
            }
            if sends {
                visible = Box::new(
                    visible
                        .or(referrals::from_agency_id.eq(mine.clone()))
                        .or(referrals::origin_agency_id.eq(mine.clone())),
                );
            }
            q.filter(visible)
        }
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
        let open: Vec<String> =
            [ReferralStatus::Sent, ReferralStatus::Acknowledged, ReferralStatus::Accepted, ReferralStatus::InProgress]
                .into_iter()
                .map(wire_code)
                .collect();
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
            .ok_or_else(|| ApiError::field("cursor", "invalid_cursor", "not a cursor of this list"))?;
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

/// What a deadline job names.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DeadlineJob {
    pub referral_id: String,
    pub kind: DeadlineKind,
}

/// The deadline check: a deadline still open at its time is breached, the receiving agency's
/// duty rota is alerted, and the sender's coordinators are alerted later if it stays unmet.
pub fn check_deadline(
    conn: &mut DbConnection,
    referral_id: &str,
    kind: DeadlineKind,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let at = crate::clock::truncate(now);
    let breached = diesel::update(
        referral_deadlines::table
            .filter(referral_deadlines::referral_id.eq(referral_id))
            .filter(referral_deadlines::kind.eq(wire_code(kind)))
            .filter(referral_deadlines::met_at.is_null())
            .filter(referral_deadlines::void_at.is_null())
            .filter(referral_deadlines::breached_at.is_null()),
    )
    .set(referral_deadlines::breached_at.eq(at))
    .execute(conn)?;
    if breached == 0 {
        return Ok(false);
    }
    let row = load(conn, referral_id)?;
    add_event(conn, referral_id, at, "deadline_breached", None, None, json!({ "deadline": kind }))?;
    let label = deadline_label(kind);
    let new = NewAlert {
        severity: severity_of(row.priority()?),
        source: AlertSource::ReferralDeadline,
        agency_id: row.to_agency_id.clone(),
        area_id: row.admin_unit_id.clone().or(row.municipality_id.clone()),
        title: format!("Afat i tejkaluar / Deadline missed: {label}"),
        details: Some(format!("Referimi / Referral {referral_id}")),
        dedup_key: Some(deadline_job_key(referral_id, kind)),
        identification_id: None,
        profile_id: None,
        referral_id: Some(referral_id.to_owned()),
        policy: None,
    };
    let (alert_id, _) = alerts_service::raise(conn, &Actor::system(), new, at)?;
    add_event(conn, referral_id, at, "alert_raised", None, None, json!({ "alert_id": alert_id, "deadline": kind }))?;
    let agency_municipality: Option<String> = agencies::table
        .filter(agencies::id.eq(&row.to_agency_id))
        .select(agencies::municipality_id)
        .get_result(conn)?;
    let (policy, _) = deadlines::policy_for(conn, agency_municipality.as_deref().or(row.municipality_id.as_deref()))?;
    outbox::enqueue(
        conn,
        kinds::REFERRAL_SENDER_ALERT,
        &json!({ "referral_id": referral_id, "kind": kind }),
        &format!("{}:sender", deadline_job_key(referral_id, kind)),
        at + chrono::Duration::minutes(i64::from(policy.sender_alert_after_minutes)),
        at,
    )?;
    audit::record(
        conn,
        &Actor::system(),
        at,
        "referral.deadline_breached",
        "referral",
        referral_id,
        json!({ "deadline": kind }),
    )?;
    Ok(true)
}

fn deadline_label(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::Acknowledge => "konfirmimi / acknowledgement",
        DeadlineKind::FirstContact => "kontakti i parë / first contact",
        DeadlineKind::Outcome => "rezultati / outcome",
    }
}

/// The second stage of a breach: if the deadline is still unmet, the sender's coordinators hear.
pub fn alert_sender_of_breach(
    conn: &mut DbConnection,
    referral_id: &str,
    kind: DeadlineKind,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let at = crate::clock::truncate(now);
    let deadline: DeadlineRow = referral_deadlines::table
        .filter(referral_deadlines::referral_id.eq(referral_id))
        .filter(referral_deadlines::kind.eq(wire_code(kind)))
        .select(DeadlineRow::as_select())
        .get_result(conn)?;
    if deadline.met_at.is_some() || deadline.void_at.is_some() {
        return Ok(false);
    }
    let row = load(conn, referral_id)?;
    let to = crate::accounts::service::agency_ref_of(conn, &row.to_agency_id)?;
    let new = NewAlert {
        severity: severity_of(row.priority()?),
        source: AlertSource::ReferralDeadline,
        agency_id: row.from_agency_id.clone(),
        area_id: row.admin_unit_id.clone().or(row.municipality_id.clone()),
        title: format!("Referim pa përgjigje / Referral not answered: {}", to.name),
        details: Some(format!("Afati / Deadline: {}", deadline_label(kind))),
        dedup_key: Some(format!("{}:sender", deadline_job_key(referral_id, kind))),
        identification_id: None,
        profile_id: None,
        referral_id: Some(referral_id.to_owned()),
        policy: Some(crate::alerts::coverage::coordinators_only()),
    };
    let (alert_id, _) = alerts_service::raise(conn, &Actor::system(), new, at)?;
    add_event(conn, referral_id, at, "sender_alerted", None, None, json!({ "alert_id": alert_id, "deadline": kind }))?;
    Ok(true)
}

/// A shelter's own count of places in use.
pub fn put_occupancy(
    conn: &mut DbConnection,
    user: &AuthUser,
    agency_id: &str,
    occupied: i32,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let same_agency = user.agency.id == agency_id;
    if !(user.is_system_admin()
        || (same_agency && (user.can(Permission::ReferralsRespond) || user.can(Permission::AgenciesManage))))
    {
        return Err(ApiError::forbidden("a shelter's occupancy is reported by its own staff"));
    }
    let (agency_type, capacity): (String, Option<i32>) = agencies::table
        .filter(agencies::id.eq(agency_id))
        .select((agencies::agency_type, agencies::capacity))
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("agency"))?;
    if agency_type != routing::SHELTER {
        return Err(ApiError::field("occupied", "invalid_value", "only shelters report occupancy"));
    }
    if capacity.is_some_and(|capacity| occupied > capacity) {
        return Err(ApiError::field("occupied", "out_of_range", "more places in use than the shelter has"));
    }
    diesel::update(agencies::table.filter(agencies::id.eq(agency_id)))
        .set((agencies::occupied.eq(occupied), agencies::occupancy_updated_at.eq(at)))
        .execute(conn)?;
    audit::record(conn, &user.actor(), at, "agency.occupancy", "agency", agency_id, json!({ "occupied": occupied }))?;
    Ok(())
}

/// Where a referral about this sighting or profile would go, and the other agencies that could
/// take it.
pub fn suggest_route(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &terren_contract::referrals::RouteQuery,
    at: NaiveDateTime,
) -> ApiResult<terren_contract::referrals::RouteSuggestion> {
    user.require(Permission::ReferralsCreate)?;
    let subject = subject_of(conn, index, user, query.identification_id, query.profile_id, at)?;
    let services: Vec<String> = query
        .services
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut errors = Vec::new();
    check_codes(conn, "referral_service", "services", &services, &mut errors)?;
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let case = Case { place: &subject.place, subject_type: &subject.subject_type, services: &services };
    let routed = routing::route(conn, index, case, &[])?;
    let mut alternatives = routing::alternatives(conn, index, &subject.place, &subject.subject_type)?;
    if let Some(chosen) = &routed {
        alternatives.retain(|a| a.id.to_string() != chosen.agency.id);
    }
    Ok(terren_contract::referrals::RouteSuggestion {
        agency: routed.as_ref().map(|r| r.agency.as_ref()).transpose()?,
        rule_id: routed.as_ref().map(|r| parse_uuid(&r.rule_id)).transpose()?,
        alternatives,
    })
}
