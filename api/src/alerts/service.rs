//! Alerts: raising (one open alert per dedup key), atomic state changes and views. The row is in
//! `store`, the timeline in `timeline`, who may read and answer one in `access::alerts`.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::agencies::AgencyListQuery;
use terren_contract::alerts::{
    Alert, AlertAction, AlertEventKind, AlertListQuery, AlertSource, AlertState, CreateAlert, EscalationPolicyBody,
    EscalationStatus, Severity,
};
use terren_contract::identifications::PersonRef;
use terren_contract::problem::FieldErrorCode;
use uuid::Uuid;

pub use super::store::{AlertRow, load};
use super::{escalation, policy};
use crate::access::AuthUser;
use crate::access::alerts::{coordinates_raiser, may_see, was_notified};
use crate::accounts::service::{agency_ref_of, person_ref};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::schema::{agencies, alert_events, alerts, escalation_policies, identifications, outbox_jobs};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AgencyId, AlertId, ReferralId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::{parse_wire_code, wire_code};

/// What a new alert is about, from a person or from the system.
pub struct NewAlert {
    pub severity: Severity,
    pub source: AlertSource,
    pub agency_id: AgencyId,
    pub area_id: Option<String>,
    pub title: String,
    pub details: Option<String>,
    pub dedup_key: Option<String>,
    pub identification_id: Option<String>,
    pub profile_id: Option<String>,
    pub referral_id: Option<ReferralId>,
    /// Replaces the agency's policy (e.g. coverage alerts go to coordinators).
    pub policy: Option<EscalationPolicyBody>,
}

pub fn add_event(
    tx: &mut Tx<'_>,
    alert_id: &AlertId,
    at: NaiveDateTime,
    kind: AlertEventKind,
    actor: Option<&str>,
    note: Option<&str>,
    details: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(alert_events::table)
        .values((
            alert_events::id.eq(Uuid::now_v7().to_string()),
            alert_events::alert_id.eq(alert_id),
            alert_events::occurred_at.eq(at),
            alert_events::kind.eq(wire_code(kind)),
            alert_events::actor_user_id.eq(actor),
            alert_events::note.eq(note),
            alert_events::details.eq(details.to_string()),
        ))
        .execute(tx.conn())?;
    Ok(())
}

/// Raises an alert and schedules its first escalation step, in the caller's transaction. With a
/// dedup key that an open alert already holds, that alert is returned instead (`false`).
pub fn raise(tx: &mut Tx<'_>, actor: &Actor, new: NewAlert, at: NaiveDateTime) -> ApiResult<(AlertId, bool)> {
    if let Some(key) = &new.dedup_key {
        let open: Option<AlertId> =
            alerts::table.filter(alerts::open_key.eq(key)).select(alerts::id).get_result(tx.conn()).optional()?;
        if let Some(id) = open {
            add_event(
                tx,
                &id,
                at,
                AlertEventKind::Deduplicated,
                actor.user_id.as_deref(),
                None,
                json!({ "title": new.title }),
            )?;
            return Ok((id, false));
        }
    }
    let policy = match new.policy {
        Some(policy) => policy,
        None => policy::policy_of(tx, &new.agency_id)?,
    };
    let reachable = escalation::anybody_reachable(tx, &new.agency_id, &policy, actor.user_id.as_deref(), to_utc(at))?;
    let id = AlertId::generate();
    diesel::insert_into(alerts::table)
        .values((
            alerts::id.eq(&id),
            alerts::agency_id.eq(&new.agency_id),
            alerts::area_id.eq(&new.area_id),
            alerts::severity.eq(wire_code(new.severity)),
            alerts::source.eq(wire_code(new.source)),
            alerts::state.eq(wire_code(AlertState::Triggered)),
            alerts::title.eq(&new.title),
            alerts::details.eq(&new.details),
            alerts::dedup_key.eq(&new.dedup_key),
            alerts::open_key.eq(&new.dedup_key),
            alerts::identification_id.eq(&new.identification_id),
            alerts::profile_id.eq(&new.profile_id),
            alerts::referral_id.eq(&new.referral_id),
            alerts::policy.eq(serde_json::to_string(&policy).map_err(anyhow::Error::from)?),
            alerts::escalation_step.eq(0),
            alerts::escalation_round.eq(0),
            alerts::created_by.eq(&actor.user_id),
            alerts::created_at.eq(at),
            alerts::version.eq(1),
            alerts::updated_at.eq(at),
            alerts::unreachable_at.eq((!reachable).then_some(at)),
        ))
        .execute(tx.conn())?;
    if !reachable {
        tracing::warn!(alert = %id, agency = %new.agency_id, "alert raised for an agency nobody can be reached at");
    }
    add_event(
        tx,
        &id,
        at,
        AlertEventKind::Triggered,
        actor.user_id.as_deref(),
        None,
        json!({ "severity": wire_code(new.severity) }),
    )?;
    escalation::enqueue_step(tx, escalation::StepJob { alert_id: id.clone(), step: 0, round: 0 }, at, at)?;
    audit::record(
        tx,
        actor,
        at,
        "alert.create",
        "alert",
        &id,
        json!({
            "agency_id": new.agency_id,
            "severity": wire_code(new.severity),
            "source": wire_code(new.source),
            "identification_id": new.identification_id,
            "profile_id": new.profile_id,
        }),
    )?;
    Ok((id, true))
}

/// The agency that answers for a place: 24/7 agencies with a rota or a policy first.
pub fn responsible_agency(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    area_code: &str,
) -> ApiResult<Option<AgencyId>> {
    let serving = crate::agencies::service::list(
        conn,
        index,
        &AgencyListQuery { area: Some(area_code.to_owned()), ..AgencyListQuery::default() },
    )?;
    let ids: Vec<AgencyId> = serving.iter().map(|a| AgencyId::from(a.id)).collect();
    let with_policy: BTreeSet<AgencyId> = escalation_policies::table
        .filter(escalation_policies::agency_id.eq_any(&ids))
        .select(escalation_policies::agency_id)
        .load::<AgencyId>(conn)?
        .into_iter()
        .collect();
    let with_rota: BTreeSet<AgencyId> =
        crate::rota::service::live_schedules(conn, &ids)?.into_iter().map(|(agency, _, _)| agency).collect();
    let rank = |agency: &terren_contract::agencies::Agency| {
        let id = AgencyId::from(agency.id);
        (
            !(agency.is_24_7 && (with_policy.contains(&id) || with_rota.contains(&id))),
            !with_policy.contains(&id),
            !with_rota.contains(&id),
            !agency.is_24_7,
        )
    };
    Ok(serving.iter().min_by_key(|agency| rank(agency)).map(|agency| AgencyId::from(agency.id)))
}

pub fn create(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &CreateAlert,
    at: NaiveDateTime,
) -> ApiResult<(Alert, bool)> {
    user.require(Permission::AlertsRaise)?;
    let area = match &request.area_code {
        Some(code) => Some(
            index
                .find_code(code)
                .ok_or_else(|| ApiError::field("area_code", FieldErrorCode::UnknownArea, format!("no area {code}")))?,
        ),
        None => None,
    };
    let agency_id = match (request.agency_id, &request.area_code) {
        (Some(id), _) => {
            let id = AgencyId::from(id);
            let found: i64 = agencies::table.filter(agencies::id.eq(&id)).count().get_result(tx.conn())?;
            if found == 0 {
                return Err(ApiError::field("agency_id", FieldErrorCode::UnknownAgency, "no such agency"));
            }
            id
        }
        (None, Some(code)) => responsible_agency(tx, index, code)?.unwrap_or_else(|| user.agency.id.clone()),
        (None, None) => user.agency.id.clone(),
    };
    let identification_id = request.identification_id.map(|id| id.to_string());
    if let Some(id) = &identification_id {
        let found: i64 = identifications::table.filter(identifications::id.eq(id)).count().get_result(tx.conn())?;
        if found == 0 {
            return Err(ApiError::field(
                "identification_id",
                FieldErrorCode::UnknownIdentification,
                "no such identification",
            ));
        }
    }
    let new = NewAlert {
        severity: request.severity,
        source: AlertSource::Manual,
        agency_id,
        area_id: area.map(|a| index.area(a).id.clone()),
        title: request.title.trim().to_owned(),
        details: request.details.clone(),
        dedup_key: request.dedup_key.clone(),
        identification_id,
        profile_id: request.profile_id.map(|id| id.to_string()),
        referral_id: None,
        policy: None,
    };
    let (id, created) = raise(tx, &user.actor(), new, at)?;
    let row = load(tx, &id)?;
    Ok((view(tx, index, &row)?, created))
}

fn person(conn: &mut DbConnection, id: &Option<String>) -> ApiResult<Option<PersonRef>> {
    id.as_deref().map(|id| person_ref(conn, id)).transpose()
}

/// The dedup-key prefix of every escalation job of an alert.
pub fn job_prefix(alert_id: &AlertId) -> String {
    format!("alert:{alert_id}:")
}

pub fn view(conn: &mut DbConnection, index: &TerritoryIndex, row: &AlertRow) -> ApiResult<Alert> {
    let area = crate::territory::refs::area_ref(index, &row.area_id);
    let next_step_at: Option<NaiveDateTime> = if row.state == wire_code(AlertState::Triggered) {
        outbox_jobs::table
            .filter(outbox_jobs::dedup_key.like(format!("{}%", crate::db::like_literal(&job_prefix(&row.id)))))
            .filter(outbox_jobs::kind.eq(crate::outbox::kinds::ALERT_ESCALATE))
            .filter(outbox_jobs::done_at.is_null())
            .select(diesel::dsl::min(outbox_jobs::due_at))
            .get_result(conn)?
    } else {
        None
    };
    Ok(Alert {
        id: row.id.uuid()?,
        severity: parse_wire_code(&row.severity)?,
        source: parse_wire_code(&row.source)?,
        state: parse_wire_code(&row.state)?,
        agency: agency_ref_of(conn, &row.agency_id)?,
        area,
        title: row.title.clone(),
        details: row.details.clone(),
        dedup_key: row.dedup_key.clone(),
        identification_id: row.identification_id.as_deref().map(parse_uuid).transpose()?,
        profile_id: row.profile_id.as_deref().map(parse_uuid).transpose()?,
        referral_id: row.referral_id.as_ref().map(ReferralId::uuid).transpose()?,
        created_by: person(conn, &row.created_by)?,
        created_at: to_utc(row.created_at),
        acknowledged_by: person(conn, &row.acknowledged_by)?,
        acknowledged_at: row.acknowledged_at.map(to_utc),
        closed_by: person(conn, &row.closed_by)?,
        closed_at: row.closed_at.map(to_utc),
        escalation: EscalationStatus {
            step: row.escalation_step,
            round: row.escalation_round,
            next_step_at: next_step_at.map(to_utc),
            unreachable: row.unreachable_at.is_some(),
        },
        version: row.version,
    })
}

pub fn get(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, id: &AlertId) -> ApiResult<Alert> {
    let row = load(conn, id)?;
    may_see(conn, user, &row)?;
    view(conn, index, &row)
}

pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &AlertListQuery,
) -> ApiResult<AlertPage> {
    crate::access::alerts::require_alert_reader(user)?;
    crate::http::json::check_rules(query)?;
    let limit = query.limit.unwrap_or(50);
    let mut q = alerts::table
        .filter(crate::access::alerts::list_filter(user))
        .select(AlertRow::as_select())
        .order((alerts::created_at.desc(), alerts::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(state) = query.state {
        q = q.filter(alerts::state.eq(wire_code(state)));
    }
    if query.open == Some(true) {
        q = q.filter(alerts::state.eq_any(AlertState::OPEN.map(wire_code)));
    }
    if let Some(severity) = query.severity {
        q = q.filter(alerts::severity.eq(wire_code(severity)));
    }
    if let Some(source) = query.source {
        q = q.filter(alerts::source.eq(wire_code(source)));
    }
    #[expect(deprecated, reason = "still honoured for apps that page with it")]
    if let Some(before) = query.before {
        q = q.filter(alerts::created_at.lt(before.naive_utc()));
    }
    if let Some(text) = &query.cursor {
        let (created_at, id) = crate::http::cursor::decode(text)
            .ok_or_else(|| ApiError::field("cursor", FieldErrorCode::InvalidCursor, "not a cursor of this list"))?;
        q = q
            .filter(alerts::created_at.le(created_at))
            .filter(alerts::created_at.lt(created_at).or(alerts::created_at.eq(created_at).and(alerts::id.lt(id))));
    }
    let mut rows: Vec<AlertRow> = q.load(conn)?;
    let page_size = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > page_size {
        rows.truncate(page_size);
        rows.last().map(|last| crate::http::cursor::encode(last.created_at, &last.id))
    } else {
        None
    };
    let items = rows.iter().map(|row| view(conn, index, row)).collect::<ApiResult<_>>()?;
    Ok(AlertPage { items, next_cursor })
}

/// A page of alerts and where the next one starts, if there is one.
pub struct AlertPage {
    pub items: Vec<Alert>,
    pub next_cursor: Option<String>,
}

/// A state change that happens only from the given states, as one compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    Resolve,
    Cancel,
}

impl Transition {
    fn target(self) -> AlertState {
        match self {
            Transition::Acknowledge => AlertState::Acknowledged,
            Transition::Resolve => AlertState::Resolved,
            Transition::Cancel => AlertState::Cancelled,
        }
    }

    fn allowed_from(self) -> Vec<String> {
        match self {
            Transition::Acknowledge => vec![wire_code(AlertState::Triggered)],
            Transition::Resolve | Transition::Cancel => AlertState::OPEN.map(wire_code).to_vec(),
        }
    }
}

fn refused(conn: &mut DbConnection, row: &AlertRow) -> ApiResult<ApiError> {
    let by = |conn: &mut DbConnection, id: &Option<String>| -> ApiResult<String> {
        Ok(person(conn, id)?.map(|p| format!(" by {}", p.display_name)).unwrap_or_default())
    };
    Ok(if row.state == wire_code(AlertState::Acknowledged) {
        ApiError::new(ErrorCode::AlertAlreadyAcknowledged)
            .with_detail(format!("acknowledged{}", by(conn, &row.acknowledged_by)?))
    } else {
        ApiError::new(ErrorCode::AlertClosed).with_detail(format!(
            "the alert is {}{}",
            row.state,
            by(conn, &row.closed_by)?
        ))
    })
}

/// Acknowledges, resolves or cancels. Concurrent changes leave one consistent history: the
/// change happens only if the alert is still in a state it may happen from; the other request is
/// told what happened instead. Repeating your own change is answered with the alert as it is.
pub fn transition(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &AlertId,
    change: Transition,
    action: &AlertAction,
    at: NaiveDateTime,
) -> ApiResult<Alert> {
    let row = load(tx, id)?;
    // 404 first for those who may not see it.
    may_see(tx, user, &row)?;
    match change {
        Transition::Acknowledge | Transition::Resolve => {
            let finders_coordinator = change == Transition::Resolve
                && row.source == wire_code(AlertSource::FieldIdentification)
                && coordinates_raiser(tx, user, &row)?;
            if !finders_coordinator {
                let paged = was_notified(tx, &row.id, &user.user_id)?;
                crate::access::alerts::may_answer_alert(user, &row.agency_id, paged)?;
                user.require(Permission::AlertsRespond)?;
            }
        }
        Transition::Cancel => user.require(Permission::AlertsRespond)?,
    }
    if change == Transition::Cancel
        && row.created_by.as_deref() != Some(user.user_id.as_str())
        && !(user.can(Permission::PlanningManage) && user.agency.id == row.agency_id)
    {
        return Err(ApiError::forbidden("an alert is cancelled by whoever raised it or a coordinator of its agency"));
    }
    let target = wire_code(change.target());
    let mine = match change {
        Transition::Acknowledge => row.acknowledged_by.as_deref(),
        Transition::Resolve | Transition::Cancel => row.closed_by.as_deref(),
    };
    if row.state == target && mine == Some(user.user_id.as_str()) {
        return view(tx, index, &row);
    }
    let changed = match change {
        Transition::Acknowledge => {
            diesel::update(alerts::table.filter(alerts::id.eq(id)).filter(alerts::state.eq_any(change.allowed_from())))
                .set((
                    alerts::state.eq(&target),
                    alerts::acknowledged_by.eq(&user.user_id),
                    alerts::acknowledged_at.eq(at),
                    alerts::version.eq(alerts::version + 1),
                    alerts::updated_at.eq(at),
                ))
                .execute(tx.conn())?
        }
        Transition::Resolve | Transition::Cancel => {
            diesel::update(alerts::table.filter(alerts::id.eq(id)).filter(alerts::state.eq_any(change.allowed_from())))
                .set((
                    alerts::state.eq(&target),
                    alerts::closed_by.eq(&user.user_id),
                    alerts::closed_at.eq(at),
                    alerts::open_key.eq(None::<String>),
                    alerts::version.eq(alerts::version + 1),
                    alerts::updated_at.eq(at),
                ))
                .execute(tx.conn())?
        }
    };
    if changed == 0 {
        let current = load(tx, id)?;
        return Err(refused(tx, &current)?);
    }
    let note = action.note.as_deref();
    add_event(tx, id, at, change.target().into(), Some(&user.user_id), note, json!({ "from": row.state }))?;
    audit::record(
        tx,
        &user.actor(),
        at,
        &format!("alert.{target}"),
        "alert",
        id,
        json!({ "from": row.state, "note": action.note }),
    )?;
    let row = load(tx, id)?;
    view(tx, index, &row)
}

/// Acknowledges (those still triggered) or resolves (those still open) alerts on behalf of what
/// they are about, e.g. a referral that was acknowledged or ended. Alerts that moved on are left.
pub fn settle(
    tx: &mut Tx<'_>,
    ids: &[AlertId],
    change: Transition,
    actor: Option<&str>,
    note: &str,
    at: NaiveDateTime,
) -> ApiResult<usize> {
    let target = wire_code(change.target());
    let mut settled = 0;
    for id in ids {
        let scope = alerts::table.filter(alerts::id.eq(id)).filter(alerts::state.eq_any(change.allowed_from()));
        let changed = match change {
            Transition::Acknowledge => diesel::update(scope)
                .set((
                    alerts::state.eq(&target),
                    alerts::acknowledged_by.eq(actor),
                    alerts::acknowledged_at.eq(at),
                    alerts::version.eq(alerts::version + 1),
                    alerts::updated_at.eq(at),
                ))
                .execute(tx.conn())?,
            Transition::Resolve | Transition::Cancel => diesel::update(scope)
                .set((
                    alerts::state.eq(&target),
                    alerts::closed_by.eq(actor),
                    alerts::closed_at.eq(at),
                    alerts::open_key.eq(None::<String>),
                    alerts::version.eq(alerts::version + 1),
                    alerts::updated_at.eq(at),
                ))
                .execute(tx.conn())?,
        };
        if changed == 1 {
            add_event(tx, id, at, change.target().into(), actor, Some(note), json!({}))?;
            settled += 1;
        }
    }
    Ok(settled)
}
