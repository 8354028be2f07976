//! Making a referral: whom it is about, consent, routing, deadlines and their checks, and the
//! emergency page.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use terren_contract::Permission;
use terren_contract::alerts::{AlertEventKind, AlertSource, Severity};
use terren_contract::identifications::AgeBand;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::referrals::{
    CreateReferral, Priority, Referral, ReferralEventKind, ReferralStatus, RoutingMethod, Share,
};
use uuid::Uuid;

use super::checker::DeadlineJob;
use super::deadlines::{self, Calendar};
use super::routing::{self, Case, Place};
use super::service::{ReferralRow, add_event, load, view};
use crate::access::AuthUser;
use crate::alerts::service::{self as alerts_service, NewAlert};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::schema::{agencies, alerts, referral_deadlines, referrals};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::identifications::store::{codes, parse_codes};
use crate::ids::{AgencyId, AlertId, ReferralId, parse_uuid};
use crate::outbox;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{is_active_code, wire_code};

/// Who the referral is about, from its sighting or profile.
struct Subject {
    identification_id: Option<String>,
    profile_id: Option<String>,
    subject_type: String,
    /// The age band's code, as stored.
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
            Some(crate::access::identifications::find_in_scope(conn, index, user, &id.to_string()).map_err(|_| {
                ApiError::field(
                    "identification_id",
                    FieldErrorCode::UnknownIdentification,
                    "no such sighting within your scope",
                )
            })?)
        }
        None => None,
    };
    let linked = match &sighting {
        Some(row) => crate::profiles::store::linked_profile(conn, &row.id)?.map(|p| p.id.to_string()),
        None => None,
    };
    let profile = match profile_id.map(|id| id.to_string()).or(linked.clone()) {
        Some(id) => Some(crate::profiles::views::find_for_referral(conn, index, user, &id).map_err(|_| {
            ApiError::field("profile_id", FieldErrorCode::UnknownProfile, "no such profile within your scope")
        })?),
        None => None,
    };
    if let (Some(profile), Some(linked)) = (&profile, &linked)
        && profile.id != *linked
    {
        return Err(ApiError::field(
            "profile_id",
            FieldErrorCode::ProfileMismatch,
            "the sighting is linked to another profile",
        ));
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
            age_band: wire_code(AgeBand::of_age(p.birth_year.map(|born| at.year() - born))),
            sex: p.sex,
            place: Place { municipality_id: p.municipality_id, admin_unit_id: p.admin_unit_id },
            street_situations: Vec::new(),
            risk_level: None,
        }),
        (None, None) => {
            Err(ApiError::field("identification_id", FieldErrorCode::Required, "name a sighting or a child profile"))
        }
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
                code: FieldErrorCode::UnknownCode,
                message: format!("{code} is not a {vocabulary} code"),
            });
        }
    }
    Ok(())
}

fn content_hash(request: &CreateReferral) -> ApiResult<String> {
    let body = serde_json::to_vec(request).map_err(anyhow::Error::from)?;
    Ok(crate::digest::hex(&Sha256::digest(&body)))
}

/// Everything a new referral starts with besides its own fields.
pub(super) struct Start {
    pub(super) row: ReferralRow,
    /// For the `sent` event: the rule's key when routed by the table.
    pub(super) route_key: Option<String>,
}

/// Writes a new referral: its row, deadlines and their checks, the `sent` event, and for an
/// emergency the alert to the receiving agency's duty rota.
pub(super) fn open(tx: &mut Tx<'_>, index: &TerritoryIndex, actor: &Actor, start: Start) -> ApiResult<()> {
    let Start { mut row, route_key } = start;
    let at = row.sent_at;
    let (zone, agency_municipality): (String, Option<String>) = agencies::table
        .filter(agencies::id.eq(&row.to_agency_id))
        .select((agencies::time_zone, agencies::municipality_id))
        .get_result(tx.conn())?;
    let tz = crate::rota::layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane);
    let (policy, scope) = deadlines::policy_for(tx, agency_municipality.as_deref().or(row.municipality_id.as_deref()))?;
    let calendar = Calendar::parse(&policy.working_calendar).map_err(|errors| {
        ApiError::internal(anyhow::anyhow!("stored deadline policy {scope} is invalid: {errors:?}"))
    })?;
    let mut dues = Vec::new();
    for (kind, span) in deadlines::spans(&policy, row.priority()?)? {
        let due = crate::clock::truncate(deadlines::due_after(to_utc(at), span, &calendar, tz)?);
        dues.push((kind, due));
    }
    row.next_due_at = dues.iter().map(|(_, due)| *due).min();
    diesel::insert_into(referrals::table).values(&row).execute(tx.conn())?;
    for (kind, due) in &dues {
        diesel::insert_into(referral_deadlines::table)
            .values((
                referral_deadlines::referral_id.eq(&row.id),
                referral_deadlines::kind.eq(wire_code(*kind)),
                referral_deadlines::due_at.eq(due),
            ))
            .execute(tx.conn())?;
        outbox::enqueue_job(tx, &DeadlineJob { referral_id: row.id.clone(), kind: *kind }, *due, at)?;
    }
    add_event(
        tx,
        &row.id,
        at,
        ReferralEventKind::Sent,
        actor.user_id.as_deref(),
        None,
        json!({
            "to_agency_id": row.to_agency_id,
            "routing": row.routing_method,
            "route_key": route_key,
            "deadline_policy": scope,
        }),
    )?;
    if let Some(profile) = &row.profile_id {
        crate::profiles::update::advance_status(
            tx,
            actor,
            profile,
            "referred",
            crate::profiles::update::StatusCause::Referral(&row.id),
            at,
        )?;
    }
    if row.priority == wire_code(Priority::Emergency) {
        alert_emergency(tx, index, actor, &row)?;
    }
    Ok(())
}

/// The alert that pages the receiving agency's duty rota for an emergency referral. When the
/// sighting already paged the same agency and that alert is still open, the referral joins it
/// instead of paging the same people twice.
fn alert_emergency(tx: &mut Tx<'_>, index: &TerritoryIndex, actor: &Actor, row: &ReferralRow) -> ApiResult<()> {
    let at = row.sent_at;
    if let Some(identification) = &row.identification_id {
        let open: Option<AlertId> = alerts::table
            .filter(alerts::open_key.eq(format!("identification:{identification}")))
            .filter(alerts::agency_id.eq(&row.to_agency_id))
            .select(alerts::id)
            .get_result(tx.conn())
            .optional()?;
        if let Some(alert_id) = open {
            diesel::update(alerts::table.filter(alerts::id.eq(&alert_id)).filter(alerts::referral_id.is_null()))
                .set(alerts::referral_id.eq(&row.id))
                .execute(tx.conn())?;
            alerts_service::add_event(
                tx,
                &alert_id,
                at,
                AlertEventKind::ReferralLinked,
                actor.user_id.as_deref(),
                None,
                json!({ "referral_id": row.id }),
            )?;
            let details = json!({ "alert_id": alert_id, "joined": true });
            add_event(tx, &row.id, at, ReferralEventKind::AlertRaised, None, None, details)?;
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
    let (alert_id, _) = alerts_service::raise(tx, actor, new, at)?;
    add_event(tx, &row.id, at, ReferralEventKind::AlertRaised, None, None, json!({ "alert_id": alert_id }))?;
    Ok(())
}

/// The answer to a create: the referral, and whether it was new (201) or already there (200).
pub struct Created {
    pub referral: Referral,
    pub new: bool,
}

pub fn create(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &CreateReferral,
    at: NaiveDateTime,
) -> ApiResult<Created> {
    user.require(Permission::ReferralsCreate)?;
    let id = ReferralId::from(request.id);
    let hash = content_hash(request)?;
    if let Some(existing) = super::service::find(tx, &id)? {
        if existing.created_by == user.user_id && existing.content_hash == hash {
            return Ok(Created { referral: view(tx, index, user, &existing, at)?, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different referral has this id"));
    }
    let subject = subject_of(tx, index, user, request.identification_id, request.profile_id, at)?;
    let mut errors = Vec::new();
    check_codes(tx, "problem_category", "reasons", &request.reasons, &mut errors)?;
    check_codes(tx, "referral_service", "services", &request.services, &mut errors)?;
    if let Some(given_by) = &request.consent_given_by {
        check_codes(tx, "consent_given_by", "consent_given_by", std::slice::from_ref(given_by), &mut errors)?;
    }
    if request.made_at.is_some_and(|made| made.naive_utc() > at + chrono::Duration::minutes(5)) {
        errors.push(FieldError {
            field: "made_at".into(),
            code: FieldErrorCode::InFuture,
            message: "made_at is later than now".into(),
        });
    }
    if request.share == Share::Details
        && request.consent_given_by.is_none()
        && request.consent_override_reason.is_none()
    {
        errors.push(FieldError {
            field: "consent_given_by".into(),
            code: FieldErrorCode::ConsentRequired,
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
            let agency = routing::check_choice(tx, index, user, "to_agency_id", &AgencyId::from(chosen), case)?;
            (agency, RoutingMethod::Chosen, None)
        }
        None => {
            let routed = routing::route(tx, index, case, &[])?.ok_or_else(|| {
                ApiError::field(
                    "to_agency_id",
                    FieldErrorCode::NoResponsibleAgency,
                    "no agency in the routing table serves this place for this person; choose one",
                )
            })?;
            (routed.agency, RoutingMethod::Rule, Some(routed.rule_id))
        }
    };
    let route_key = match &rule {
        Some(rule_id) => Some(
            crate::db::schema::referral_routes::table
                .filter(crate::db::schema::referral_routes::id.eq(rule_id))
                .select(crate::db::schema::referral_routes::route_key)
                .get_result::<String>(tx.conn())?,
        ),
        None => None,
    };
    let row = ReferralRow {
        id: id.clone(),
        chain_id: id.clone(),
        origin_agency_id: user.agency.id.clone(),
        origin_user_id: user.user_id.to_string(),
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
        routing_method: wire_code(method),
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
        created_by: user.user_id.to_string(),
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
    open(tx, index, &user.actor(), Start { row: row.clone(), route_key })?;
    if overriding {
        add_event(
            tx,
            &id,
            at,
            ReferralEventKind::ConsentOverride,
            Some(&user.user_id),
            request.consent_override_reason.as_deref(),
            json!({}),
        )?;
    }
    let created = load(tx, &id)?;
    let referral = view(tx, index, user, &created, at)?;
    audit::record(
        tx,
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
        alternatives.retain(|a| AgencyId::from(a.id) != chosen.agency.id);
    }
    Ok(terren_contract::referrals::RouteSuggestion {
        agency: routed.as_ref().map(|r| r.agency.as_ref()).transpose()?,
        rule_id: routed.as_ref().map(|r| parse_uuid(&r.rule_id)).transpose()?,
        alternatives,
    })
}
