//! A referral's steps, each one compare-and-set: acknowledge, accept, decline (back to the
//! sender's coordinators with a suggestion), start, close, cancel, forward; the deadlines and
//! alerts each step settles.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::alerts::{AlertSource, Severity};
use terren_contract::problem::FieldErrorCode;
use terren_contract::referrals::{
    CloseReferral, DeadlineKind, DeadlineState, DeclineReferral, ForwardReferral, Priority, Referral, ReferralAction,
    ReferralEventKind, ReferralStatus, RoutingMethod, StartReferral,
};

use super::create::{Start, open};
use super::routing::{self, Case};
use super::service::{DeadlineRow, ReferralRow, add_event, deadline_job_key, load, view};
use crate::access::AuthUser;
use crate::access::referrals::{find_visible, sender_side};
use crate::alerts::service::{self as alerts_service, NewAlert, Transition};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::schema::{agencies, alerts, referral_deadlines, referrals};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AgencyId, AlertId, ReferralId};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::{is_active_code, wire_code};

/// Outcomes that hand the child over to case management.
const CASE_MANAGEMENT_OUTCOMES: [&str; 2] = ["case_opened", "protection_measure_taken"];

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
    tx: &mut Tx<'_>,
    referral_id: &ReferralId,
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
        .execute(tx.conn())?;
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
            .execute(tx.conn())?;
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
        .get_result(tx.conn())?;
    diesel::update(referrals::table.filter(referrals::id.eq(referral_id)))
        .set(referrals::next_due_at.eq(next))
        .execute(tx.conn())?;
    Ok(settled)
}

/// Open alerts about the referral whose dedup key starts with `prefix`.
fn open_alerts(conn: &mut DbConnection, referral_id: &ReferralId, prefix: &str) -> QueryResult<Vec<AlertId>> {
    alerts::table
        .filter(alerts::referral_id.eq(referral_id))
        .filter(alerts::open_key.like(format!("{}%", crate::db::like_literal(prefix))))
        .select(alerts::id)
        .load(conn)
}

/// The open emergency page of the referral: its own, or its sighting's.
fn emergency_alerts(conn: &mut DbConnection, row: &ReferralRow) -> QueryResult<Vec<AlertId>> {
    let mut keys = vec![format!("referral:{}", row.id)];
    if let Some(identification) = &row.identification_id {
        keys.push(format!("identification:{identification}"));
    }
    // Open keys are unique: these name the referral's own page and its sighting's.
    alerts::table.filter(alerts::open_key.eq_any(keys)).select(alerts::id).load(conn)
}

/// Alerts follow the referral: answering it acknowledges its emergency page; deadlines met or
/// void resolve their breach alerts; the end of the referral resolves everything still open.
fn settle_alerts(
    tx: &mut Tx<'_>,
    row: &ReferralRow,
    step: &Step,
    settled: &[DeadlineKind],
    actor: &str,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let target = step.target();
    let note = format!("referral {}", wire_code(target));
    let emergency = emergency_alerts(tx, row)?;
    let mut deadline_alerts = Vec::new();
    for kind in settled {
        deadline_alerts.extend(open_alerts(tx, &row.id, &deadline_job_key(&row.id, *kind))?);
    }
    alerts_service::settle(tx, &deadline_alerts, Transition::Resolve, Some(actor), &note, at)?;
    if target.is_open() {
        alerts_service::settle(tx, &emergency, Transition::Acknowledge, Some(actor), &note, at)?;
    } else {
        let mut everything = open_alerts(tx, &row.id, "")?;
        // Settling an alert twice changes nothing: the second finds it closed.
        everything.extend(emergency);
        alerts_service::settle(tx, &everything, Transition::Resolve, Some(actor), &note, at)?;
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
                    FieldErrorCode::UnknownCode,
                    format!("{} is not a referral_decline_reason code", decline.reason),
                ));
            }
            if let Some(id) = decline.suggested_agency_id
                && routing::candidate(conn, &AgencyId::from(id))?.is_none()
            {
                return Err(ApiError::field(
                    "suggested_agency_id",
                    FieldErrorCode::UnknownAgency,
                    "no such active agency",
                ));
            }
        }
        Step::Start(start) => {
            if let Some(contacted) = start.contacted_at.map(|t| t.naive_utc()) {
                if contacted > at + chrono::Duration::minutes(5) {
                    return Err(ApiError::field(
                        "contacted_at",
                        FieldErrorCode::InFuture,
                        "contacted_at is later than now",
                    ));
                }
                if contacted < row.sent_at {
                    return Err(ApiError::field(
                        "contacted_at",
                        FieldErrorCode::BeforeSent,
                        "contacted_at is before the referral was sent",
                    ));
                }
            }
        }
        Step::Close(close) => {
            let Some(outcome) = &close.outcome else {
                return Err(ApiError::field(
                    "outcome",
                    FieldErrorCode::OutcomeRequired,
                    "a referral is closed with a referral_outcome",
                ));
            };
            if !is_active_code(conn, "referral_outcome", outcome)? {
                return Err(ApiError::field(
                    "outcome",
                    FieldErrorCode::UnknownCode,
                    format!("{outcome} is not a referral_outcome code"),
                ));
            }
        }
        Step::Forward(forward) => {
            let target = AgencyId::from(forward.to_agency_id);
            if target == row.to_agency_id {
                return Err(ApiError::field("to_agency_id", FieldErrorCode::InvalidValue, "forward to another agency"));
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
fn take_shelter_place(tx: &mut Tx<'_>, row: &ReferralRow) -> ApiResult<()> {
    if !row.services().iter().any(|s| s == super::shelters::SHELTER_PLACEMENT) {
        return Ok(());
    }
    for _ in 0..5 {
        let Some(agency) = routing::candidate(tx, &row.to_agency_id)? else { return Ok(()) };
        if agency.agency_type != super::shelters::SHELTER {
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
                .execute(tx.conn())?,
            None => diesel::update(scope.filter(agencies::occupied.is_null()))
                .set(agencies::occupied.eq(taken))
                .execute(tx.conn())?,
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
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &ReferralId,
    step: Step,
    at: NaiveDateTime,
) -> ApiResult<Referral> {
    let row = find_visible(tx, user, id)?;
    if already_done(user, &row, &step)? {
        return view(tx, index, user, &row, at);
    }
    check_step(tx, index, user, &row, &step, at)?;
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
            .execute(tx.conn())?,
        Step::Accept(_) => {
            let changed = diesel::update(scope)
                .set((base, referrals::responded_by.eq(&me), referrals::responded_at.eq(at)))
                .execute(tx.conn())?;
            if changed == 1 {
                take_shelter_place(tx, &row)?;
            }
            changed
        }
        Step::Decline(decline) => {
            let suggested = match decline.suggested_agency_id {
                Some(agency) => Some(AgencyId::from(agency)),
                None => suggest_next(tx, index, &row)?,
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
                .execute(tx.conn())?
        }
        Step::Start(_) => diesel::update(scope).set((base, referrals::contacted_at.eq(met_at))).execute(tx.conn())?,
        Step::Close(close) => diesel::update(scope)
            .set((base, referrals::outcome.eq(&close.outcome), referrals::ended_by.eq(&me), referrals::ended_at.eq(at)))
            .execute(tx.conn())?,
        Step::Cancel(_) | Step::Forward(_) => diesel::update(scope)
            .set((base, referrals::ended_by.eq(&me), referrals::ended_at.eq(at)))
            .execute(tx.conn())?,
    };
    if changed == 0 {
        return Err(refused(&load(tx, id)?, &step)?);
    }
    // Answering without acknowledging first still stamps who answered first.
    if first_answer && matches!(step, Step::Accept(_) | Step::Decline(_) | Step::Forward(_)) {
        diesel::update(referrals::table.filter(referrals::id.eq(id)))
            .set((referrals::acknowledged_by.eq(&me), referrals::acknowledged_at.eq(at)))
            .execute(tx.conn())?;
    }
    let met: Vec<(DeadlineKind, NaiveDateTime)> = step.meets().iter().map(|kind| (*kind, met_at)).collect();
    let settled = settle_deadlines(tx, id, &met, !step.target().is_open(), at)?;
    for kind in &settled {
        let deadline: DeadlineRow = referral_deadlines::table
            .filter(referral_deadlines::referral_id.eq(id))
            .filter(referral_deadlines::kind.eq(wire_code(*kind)))
            .select(DeadlineRow::as_select())
            .get_result(tx.conn())?;
        if deadline.met_at.is_some() && deadline.state(at) == DeadlineState::Met {
            add_event(tx, id, at, ReferralEventKind::DeadlineMet, None, None, json!({ "deadline": kind }))?;
        }
    }
    settle_alerts(tx, &row, &step, &settled, &user.user_id, at)?;
    let mut details = json!({ "from": row.status });
    match &step {
        Step::Decline(decline) => {
            details["reason"] = json!(decline.reason);
            let updated = load(tx, id)?;
            details["suggested_agency_id"] = json!(updated.suggested_agency_id);
            alert_sender_of_decline(tx, &updated, at)?;
        }
        Step::Close(close) => {
            details["outcome"] = json!(close.outcome);
            if let Some(profile) = &row.profile_id
                && close.outcome.as_deref().is_some_and(|o| CASE_MANAGEMENT_OUTCOMES.contains(&o))
            {
                if close.outcome.as_deref() == Some("case_opened") {
                    crate::cases::service::open_from_referral(tx, user, id, &row.origin_agency_id, profile, at)?;
                }
                crate::profiles::update::advance_status(
                    tx,
                    &user.actor(),
                    profile,
                    "in_case_management",
                    crate::profiles::update::StatusCause::Referral(id),
                    at,
                )?;
            }
        }
        Step::Start(_) => details["contacted_at"] = json!(to_utc(met_at)),
        Step::Forward(forward) => {
            let next = forward_to(tx, index, user, &row, forward, at)?;
            diesel::update(referrals::table.filter(referrals::id.eq(id)))
                .set(referrals::forwarded_to.eq(&next))
                .execute(tx.conn())?;
            details["forwarded_to"] = json!(next);
        }
        Step::Acknowledge(_) | Step::Accept(_) | Step::Cancel(_) => {}
    }
    add_event(tx, id, at, step.target().into(), Some(&user.user_id), step.note(), details.clone())?;
    let updated = load(tx, id)?;
    let referral = view(tx, index, user, &updated, at)?;
    audit::record(tx, &user.actor(), at, &format!("referral.{target}"), "referral", id, details)?;
    Ok(referral)
}

/// The agency the sender could try after a decline: the routing table's choice, passing over
/// every agency that already had this person in the chain.
fn suggest_next(conn: &mut DbConnection, index: &TerritoryIndex, row: &ReferralRow) -> ApiResult<Option<AgencyId>> {
    let tried: Vec<AgencyId> =
        referrals::table.filter(referrals::chain_id.eq(&row.chain_id)).select(referrals::to_agency_id).load(conn)?;
    let (place, services) = (row.place(), row.services());
    let case = Case { place: &place, subject_type: &row.subject_type, services: &services };
    if let Some(routed) = routing::route(conn, index, case, &tried)? {
        return Ok(Some(routed.agency.id));
    }
    let subject = routing::routing_subject(&row.subject_type);
    Ok(routing::serving(conn, index, &place)?
        .into_iter()
        .find(|a| !tried.contains(&a.id) && routing::takes(&a.agency_type, subject) && a.id != row.from_agency_id)
        .map(|a| a.id))
}

pub(super) fn severity_of(priority: Priority) -> Severity {
    match priority {
        Priority::Emergency => Severity::Emergency,
        Priority::High => Severity::High,
        Priority::Medium | Priority::Low => Severity::Normal,
    }
}

/// A declined referral goes back to the sender's coordinators, with the suggestion.
fn alert_sender_of_decline(tx: &mut Tx<'_>, row: &ReferralRow, at: NaiveDateTime) -> ApiResult<()> {
    let suggestion = match &row.suggested_agency_id {
        Some(id) => Some(crate::accounts::service::agency_ref_of(tx, id)?),
        None => None,
    };
    let to = crate::accounts::service::agency_ref_of(tx, &row.to_agency_id)?;
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
    let (alert_id, _) = alerts_service::raise(tx, &Actor::system(), new, at)?;
    let details = json!({ "alert_id": alert_id, "why": "declined" });
    add_event(tx, &row.id, at, ReferralEventKind::SenderAlerted, None, None, details)?;
    Ok(())
}

/// Starts the next referral of the chain at another agency; returns its id.
fn forward_to(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ReferralRow,
    forward: &ForwardReferral,
    at: NaiveDateTime,
) -> ApiResult<ReferralId> {
    let next_id = ReferralId::generate();
    let next = ReferralRow {
        id: next_id.clone(),
        forwarded_from: Some(row.id.clone()),
        forwarded_to: None,
        from_agency_id: user.agency.id.clone(),
        to_agency_id: AgencyId::from(forward.to_agency_id),
        routing_method: wire_code(RoutingMethod::Forward),
        route_id: None,
        status: wire_code(ReferralStatus::Sent),
        outcome: None,
        decline_reason: None,
        suggested_agency_id: None,
        created_by: user.user_id.to_string(),
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
    open(tx, index, &user.actor(), Start { row: next, route_key: None })?;
    add_event(
        tx,
        &next_id,
        at,
        ReferralEventKind::ForwardedFrom,
        Some(&user.user_id),
        Some(&forward.note),
        json!({ "referral_id": row.id }),
    )?;
    Ok(next_id)
}
