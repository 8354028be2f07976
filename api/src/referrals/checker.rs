//! Deadline checks: a deadline still open at its time is breached, the receiving agency is
//! alerted, then the sender's coordinators if it stays unmet; the counts for reports.
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::alerts::AlertSource;
use terren_contract::problem::FieldErrorCode;
use terren_contract::referrals::{DeadlineKind, DeadlineState, DeadlineStatisticsCount, Priority, ReferralEventKind};

use super::deadlines::{self};
use super::lifecycle::severity_of;
use super::service::{DeadlineRow, add_event, agency_filter, deadline_job_key, load};
use crate::access::AuthUser;
use crate::alerts::service::{self as alerts_service, NewAlert};
use crate::audit::{self, Actor};
use crate::db::schema::{agencies, referral_deadlines, referrals};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::ReferralId;
use crate::outbox::{self, JobPayload, kinds};
use crate::vocabularies::wire_code;

/// The check of one referral deadline when it falls due.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadlineJob {
    pub referral_id: ReferralId,
    pub kind: DeadlineKind,
}

impl JobPayload for DeadlineJob {
    const KIND: &'static str = kinds::REFERRAL_DEADLINE;

    fn dedup_key(&self) -> String {
        deadline_job_key(&self.referral_id, self.kind)
    }
}

/// The alert to the sender's coordinators about a breached deadline still unmet a while later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SenderAlertJob {
    pub referral_id: ReferralId,
    pub kind: DeadlineKind,
}

impl JobPayload for SenderAlertJob {
    const KIND: &'static str = kinds::REFERRAL_SENDER_ALERT;

    fn dedup_key(&self) -> String {
        format!("{}:sender", deadline_job_key(&self.referral_id, self.kind))
    }
}

/// The deadline check: a deadline still open at its time is breached, the receiving agency's
/// duty rota is alerted, and the sender's coordinators are alerted later if it stays unmet.
pub fn check_deadline(
    tx: &mut Tx<'_>,
    referral_id: &ReferralId,
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
    .execute(tx.conn())?;
    if breached == 0 {
        return Ok(false);
    }
    let row = load(tx, referral_id)?;
    add_event(tx, referral_id, at, ReferralEventKind::DeadlineBreached, None, None, json!({ "deadline": kind }))?;
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
    let (alert_id, _) = alerts_service::raise(tx, &Actor::system(), new, at)?;
    let details = json!({ "alert_id": alert_id, "deadline": kind });
    add_event(tx, referral_id, at, ReferralEventKind::AlertRaised, None, None, details)?;
    let agency_municipality: Option<String> = agencies::table
        .filter(agencies::id.eq(&row.to_agency_id))
        .select(agencies::municipality_id)
        .get_result(tx.conn())?;
    let (policy, _) = deadlines::policy_for(tx, agency_municipality.as_deref().or(row.municipality_id.as_deref()))?;
    outbox::enqueue_job(
        tx,
        &SenderAlertJob { referral_id: referral_id.to_owned(), kind },
        at + chrono::Duration::minutes(i64::from(policy.sender_alert_after_minutes)),
        at,
    )?;
    audit::record(
        tx,
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
    tx: &mut Tx<'_>,
    referral_id: &ReferralId,
    kind: DeadlineKind,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let at = crate::clock::truncate(now);
    let deadline: DeadlineRow = referral_deadlines::table
        .filter(referral_deadlines::referral_id.eq(referral_id))
        .filter(referral_deadlines::kind.eq(wire_code(kind)))
        .select(DeadlineRow::as_select())
        .get_result(tx.conn())?;
    if deadline.met_at.is_some() || deadline.void_at.is_some() {
        return Ok(false);
    }
    let row = load(tx, referral_id)?;
    let to = crate::accounts::service::agency_ref_of(tx, &row.to_agency_id)?;
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
    let (alert_id, _) = alerts_service::raise(tx, &Actor::system(), new, at)?;
    let details = json!({ "alert_id": alert_id, "deadline": kind });
    add_event(tx, referral_id, at, ReferralEventKind::SenderAlerted, None, None, details)?;
    Ok(true)
}

/// Deadlines met, breached, pending and void per priority and kind, over the referrals an agency
/// received in a period. People of that agency who answer referrals or read statistics may ask,
/// and those with national scope for any agency.
pub fn deadline_statistics(
    conn: &mut DbConnection,
    user: &AuthUser,
    query: &terren_contract::referrals::DeadlineStatisticsQuery,
    now: NaiveDateTime,
) -> ApiResult<terren_contract::referrals::DeadlineStatistics> {
    use terren_contract::referrals::{DeadlineStatistics, DeadlineStatisticsRow};
    let agency_id = match &query.agency {
        Some(code) => agency_filter(conn, "agency", code)?,
        None => user.agency.id.clone(),
    };
    let own =
        agency_id == user.agency.id && (user.can(Permission::ReferralsRespond) || user.can(Permission::StatisticsRead));
    let national = user.national_scope() && user.can(Permission::StatisticsRead);
    if !(own || national) {
        return Err(ApiError::forbidden("statistics of your own agency, or with national scope"));
    }
    let (from, to) = (query.from.naive_utc(), query.to.naive_utc());
    if to <= from {
        return Err(ApiError::field("to", FieldErrorCode::BeforeFrom, "to is not after from"));
    }
    if to - from > chrono::Duration::days(400) {
        return Err(ApiError::field("to", FieldErrorCode::OutOfRange, "at most 400 days"));
    }
    let statistics_only = !(agency_id == user.agency.id
        && (user.can(Permission::ReferralsRespond) || user.can(Permission::ReferralsCreate)));
    if statistics_only {
        let errors = crate::access::off_midnight(&[("from", Some(from.time())), ("to", Some(to.time()))]);
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
    }
    let rows: Vec<(String, DeadlineRow)> = referral_deadlines::table
        .inner_join(referrals::table)
        .filter(referrals::to_agency_id.eq(&agency_id))
        .filter(referrals::sent_at.ge(from))
        .filter(referrals::sent_at.lt(to))
        .select((referrals::priority, DeadlineRow::as_select()))
        .load(conn)?;
    let referrals: BTreeSet<&str> = rows.iter().map(|(_, d)| d.referral_id.as_str()).collect();
    // A row's cells in the order of its fields, the state each counts.
    let states = [DeadlineState::Met, DeadlineState::Breached, DeadlineState::Pending, DeadlineState::Void];
    let mut counts: HashMap<(String, String), [i64; 4]> = HashMap::new();
    for (priority, deadline) in &rows {
        let slot = match deadline.state(now) {
            DeadlineState::Met => 0,
            DeadlineState::Breached => 1,
            DeadlineState::Pending => 2,
            DeadlineState::Void => 3,
        };
        counts.entry((priority.clone(), deadline.kind.clone())).or_default()[slot] += 1;
    }
    // Cells in row order: priority, then kind, then the four states.
    let mut cells: Vec<i64> = Vec::new();
    let mut keys = Vec::new();
    for priority in Priority::ALL {
        for kind in DeadlineKind::ALL {
            cells.extend(counts.get(&(wire_code(priority), wire_code(kind))).copied().unwrap_or_default());
            keys.push((priority, kind));
        }
    }
    let referral_count = i64::try_from(referrals.len()).unwrap_or(i64::MAX);
    // Those who work the agency's referrals see them one by one anyway; everyone else reads
    // statistics: small cells are left out, and with them other cells of the same row (a
    // priority's referrals, known from its other rows) and of the same kind (all referrals).
    let kind_count = DeadlineKind::ALL.len();
    let mut hidden = vec![false; cells.len()];
    if statistics_only {
        let mut groups: Vec<Vec<usize>> = (0..keys.len()).map(|row| (row * 4..row * 4 + 4).collect()).collect();
        for kind in 0..kind_count {
            groups.push(
                (0..keys.len()).filter(|row| row % kind_count == kind).flat_map(|row| row * 4..row * 4 + 4).collect(),
            );
        }
        hidden = crate::access::suppress_groups(&cells, &groups);
    }
    let table = keys
        .iter()
        .enumerate()
        .map(|(row, &(priority, kind))| {
            let cell = |state: usize| if hidden[row * 4 + state] { 0 } else { cells[row * 4 + state] };
            DeadlineStatisticsRow {
                priority,
                kind,
                met: cell(0),
                breached: cell(1),
                pending: cell(2),
                void: cell(3),
                suppressed: (0..4).filter(|state| hidden[row * 4 + state]).map(|state| states[state]).collect(),
            }
        })
        .collect();
    let min_count = if statistics_only { crate::access::MIN_PUBLISHED_COUNT } else { 1 };
    let referrals_hidden = (1..min_count).contains(&referral_count);
    Ok(DeadlineStatistics {
        agency: crate::accounts::service::agency_ref_of(conn, &agency_id)?,
        from: query.from,
        to: query.to,
        referrals: if referrals_hidden { 0 } else { referral_count },
        min_count,
        suppressed: if referrals_hidden { vec![DeadlineStatisticsCount::Referrals] } else { Vec::new() },
        rows: table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn deadline_and_sender_alert_jobs_keep_their_stored_form() {
        let id = "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a";
        let due = DeadlineJob { referral_id: ReferralId::from_stored(id), kind: DeadlineKind::FirstContact };
        assert_stored_form(r#"{"kind":"first_contact","referral_id":"0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a"}"#, &due);
        assert_eq!(due.dedup_key(), format!("referral:{id}:deadline:first_contact"));
        let sender = SenderAlertJob { referral_id: ReferralId::from_stored(id), kind: DeadlineKind::Acknowledge };
        assert_stored_form(r#"{"kind":"acknowledge","referral_id":"0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a"}"#, &sender);
        assert_eq!(sender.dedup_key(), format!("referral:{id}:deadline:acknowledge:sender"));
    }
}
