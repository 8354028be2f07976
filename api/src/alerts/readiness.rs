//! Is an agency ready for an emergency? Before one happens, its coordinators and system admins see
//! what would stop a page from reaching somebody (no rota, nobody on duty, no responder with a
//! phone, a policy that reaches nobody), per agency and per municipality; an hourly check alerts
//! the coordinators of an agency that emergencies are routed to when it cannot be reached.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use terren_contract::alerts::{
    AgencyReadiness, AlertSource, MunicipalityReadiness, ReadinessCode, ReadinessLevel, ReadinessProblem, Severity,
};
use terren_contract::areas::AreaLevel;
use terren_contract::problem::FieldErrorCode;
use terren_contract::{Permission, Role};

use super::recipients::{self, PageTarget};
use super::service::{self, NewAlert};
use super::{coverage, escalation, policy};
use crate::access::AuthUser;
use crate::accounts::service::{agency_ref_of, person_ref};
use crate::audit::Actor;
use crate::auth::permissions::permissions_of;
use crate::db::schema::{agencies, agency_areas, escalation_policies, user_roles, users};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::AgencyId;
use crate::outbox::{self, JobPayload, kinds};
use crate::referrals::routing::{self, Case, Place};
use crate::territory::index::TerritoryIndex;

fn problem(code: ReadinessCode, level: ReadinessLevel, message: impl Into<String>) -> ReadinessProblem {
    ReadinessProblem { code, level, message: message.into() }
}

/// Active people of the agency who may answer alerts and can be paged.
fn reachable_responders(conn: &mut DbConnection, agency_id: &AgencyId) -> ApiResult<usize> {
    let responding: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|role| permissions_of(*role).contains(&Permission::AlertsRespond))
        .map(Role::as_str)
        .collect();
    let people: BTreeSet<String> = users::table
        .inner_join(user_roles::table)
        .filter(users::agency_id.eq(agency_id))
        .filter(users::disabled_at.is_null())
        .filter(user_roles::role.eq_any(responding))
        .select(users::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut reachable = 0;
    for user_id in people {
        if recipients::resolve(conn, &PageTarget::User { user_id })?.is_ok() {
            reachable += 1;
        }
    }
    Ok(reachable)
}

/// The place of an area for routing: a unit with its municipality, or a municipality.
fn place_of(index: &TerritoryIndex, area: usize) -> Option<Place> {
    let found = index.area(area);
    match found.level {
        AreaLevel::Municipality => Some(Place { municipality_id: Some(found.id.clone()), admin_unit_id: None }),
        AreaLevel::AdminUnit => Some(Place {
            municipality_id: found.parent.map(|p| index.area(p).id.clone()),
            admin_unit_id: Some(found.id.clone()),
        }),
        _ => None,
    }
}

/// The agency routing sends a child's emergency at this place to.
fn routed(conn: &mut DbConnection, index: &TerritoryIndex, place: &Place) -> ApiResult<Option<AgencyId>> {
    let case = Case { place, subject_type: "child", services: &[] };
    Ok(routing::route(conn, index, case, &[])?.map(|r| r.agency.id))
}

/// Whether routing sends some place's emergencies to the agency (among the places it serves).
fn receives_emergencies(conn: &mut DbConnection, index: &TerritoryIndex, agency_id: &AgencyId) -> ApiResult<bool> {
    let served: Vec<String> =
        agency_areas::table.filter(agency_areas::agency_id.eq(agency_id)).select(agency_areas::area_id).load(conn)?;
    for area in served.iter().filter_map(|id| index.find_id(id)) {
        for place in index.descendants(area).into_iter().filter_map(|a| place_of(index, a)) {
            if routed(conn, index, &place)?.as_deref() == Some(agency_id) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn check_agency(
    conn: &mut DbConnection,
    agency_id: &AgencyId,
    receives: bool,
    now: DateTime<Utc>,
) -> ApiResult<AgencyReadiness> {
    let mut problems = Vec::new();
    let stored: i64 =
        escalation_policies::table.filter(escalation_policies::agency_id.eq(agency_id)).count().get_result(conn)?;
    if stored == 0 {
        problems.push(problem(
            ReadinessCode::NoPolicy,
            ReadinessLevel::Warning,
            "Pa politikë përshkallëzimi: njoftohen kujdestari i rotës, pastaj koordinatorët / No escalation \
             policy: the rota's on-call, then the coordinators, are paged",
        ));
    }
    let schedules = crate::rota::service::live_schedules(conn, std::slice::from_ref(agency_id))?;
    if schedules.is_empty() {
        problems.push(problem(ReadinessCode::NoRota, ReadinessLevel::Warning, "Pa rotë kujdestarie / No duty rota"));
    } else {
        let mut anyone = false;
        for (_, schedule, _) in &schedules {
            anyone |= !crate::rota::service::on_duty(conn, schedule, now)?.is_empty();
        }
        if !anyone {
            problems.push(problem(
                ReadinessCode::NobodyOnDuty,
                ReadinessLevel::Warning,
                "Askush në detyrë tani në asnjë rotë / Nobody on duty now in any rota",
            ));
        }
    }
    if reachable_responders(conn, agency_id)? == 0 {
        problems.push(problem(
            ReadinessCode::NoReachableResponder,
            ReadinessLevel::Blocking,
            "Askush që mund t'u përgjigjet alarmeve nuk ka telefon ose pajisje / Nobody who may answer alerts \
             has a phone number or push token",
        ));
    }
    let policy = policy::policy_of(conn, agency_id)?;
    let mut reachable_now = Vec::new();
    let mut a_step_reaches = false;
    for (index, step) in policy.steps.iter().enumerate() {
        let reach = recipients::reach(conn, agency_id, &step.targets, now)?;
        if reach.targets.is_empty() {
            let why: Vec<String> = reach.missed.iter().map(|m| format!("{}: {}", m.target, m.reason)).collect();
            problems.push(problem(
                ReadinessCode::StepUnreachable,
                ReadinessLevel::Warning,
                format!("Hapi {} nuk arrin askënd / Step {} reaches nobody ({})", index + 1, index + 1, why.join("; ")),
            ));
        } else if !a_step_reaches {
            a_step_reaches = true;
            for target in reach.targets {
                if let PageTarget::User { user_id } = target {
                    reachable_now.push(person_ref(conn, &user_id)?);
                }
            }
        }
    }
    // The steps were resolved above; only when none reaches anybody do the fallbacks matter.
    if !a_step_reaches && !escalation::anybody_reachable(conn, agency_id, &policy, None, now)? {
        problems.push(problem(
            ReadinessCode::Unreachable,
            ReadinessLevel::Blocking,
            "Një emergjencë tani nuk do të arrinte askënd / An emergency now would reach nobody",
        ));
    }
    Ok(AgencyReadiness {
        agency: agency_ref_of(conn, agency_id)?,
        ready: problems.iter().all(|p| p.level != ReadinessLevel::Blocking),
        receives_emergencies: receives,
        reachable_now,
        problems,
        checked_at: now,
    })
}

/// Readiness of one agency: for system admins and the agency's own coordinators and admins.
pub fn agency(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    agency_id: &AgencyId,
    now: DateTime<Utc>,
) -> ApiResult<AgencyReadiness> {
    let own =
        user.agency.id == *agency_id && (user.can(Permission::PlanningManage) || user.can(Permission::UsersManage));
    if !own && !user.is_system_admin() {
        return Err(ApiError::forbidden("an agency's readiness is for its coordinators and admins"));
    }
    let exists: i64 = agencies::table.filter(agencies::id.eq(agency_id)).count().get_result(conn)?;
    if exists == 0 {
        return Err(ApiError::not_found("agency"));
    }
    let receives = receives_emergencies(conn, index, agency_id)?;
    check_agency(conn, agency_id, receives, now)
}

/// The agencies emergencies of a municipality's places are routed to, with the places routing
/// finds none for.
fn routed_agencies(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    municipality: usize,
) -> ApiResult<(BTreeSet<AgencyId>, Vec<usize>)> {
    let mut agencies = BTreeSet::new();
    let mut unrouted = Vec::new();
    for area in index.descendants(municipality) {
        let Some(place) = place_of(index, area) else { continue };
        match routed(conn, index, &place)? {
            Some(agency) => {
                agencies.insert(agency);
            }
            None => unrouted.push(area),
        }
    }
    Ok((agencies, unrouted))
}

/// Readiness of every agency a municipality's emergencies are routed to: for system admins and
/// for coordinators and admins of agencies serving the municipality.
pub fn municipality(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    code: &str,
    now: DateTime<Utc>,
) -> ApiResult<MunicipalityReadiness> {
    let area = index.find_code(code).filter(|a| index.area(*a).level == AreaLevel::Municipality).ok_or_else(|| {
        ApiError::field("municipality", FieldErrorCode::UnknownArea, format!("no municipality {code}"))
    })?;
    let serves = user.areas.iter().any(|(id, _)| {
        index.find_id(id).is_some_and(|served| {
            index.descendants(served).contains(&area) || index.descendants(area).contains(&served)
        })
    });
    let manages = user.can(Permission::PlanningManage) || user.can(Permission::UsersManage);
    if !(user.is_system_admin() || (serves && manages)) {
        return Err(ApiError::forbidden("a municipality's readiness is for coordinators and admins serving it"));
    }
    let (ids, unrouted) = routed_agencies(conn, index, area)?;
    let mut agencies = Vec::new();
    for id in ids {
        agencies.push(check_agency(conn, &id, true, now)?);
    }
    let unrouted_areas =
        unrouted.into_iter().map(|a| crate::territory::refs::area_ref_at(index, a)).collect::<Vec<_>>();
    Ok(MunicipalityReadiness {
        municipality: crate::territory::refs::area_ref_at(index, area),
        ready: unrouted_areas.is_empty() && agencies.iter().all(|a| a.ready),
        agencies,
        unrouted_areas,
    })
}

/// The hourly readiness check, for the hour it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    pub at: DateTime<Utc>,
}

impl JobPayload for ReadinessCheck {
    const KIND: &'static str = kinds::READINESS_CHECK;

    fn dedup_key(&self) -> String {
        format!("readiness:{}", self.at.format("%Y-%m-%dT%H"))
    }
}

/// Schedules the next hourly check unless it is already scheduled.
pub fn enqueue_next(tx: &mut Tx<'_>, now: DateTime<Utc>, at: NaiveDateTime) -> QueryResult<bool> {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1);
    outbox::enqueue_job(tx, &ReadinessCheck { at: hour }, crate::clock::truncate(hour), at)
}

/// Checks every agency that some place's emergencies are routed to; one that an emergency would
/// not reach gets an alert to its coordinators (one open alert per agency). Schedules the next
/// check. Returns the alerts raised.
pub fn run_check(tx: &mut Tx<'_>, index: &TerritoryIndex, now: DateTime<Utc>) -> ApiResult<usize> {
    let at = crate::clock::truncate(now);
    let municipalities: Vec<usize> =
        (0..index.len()).filter(|a| index.area(*a).level == AreaLevel::Municipality).collect();
    let mut routed_to = BTreeSet::new();
    for municipality in municipalities {
        routed_to.extend(routed_agencies(tx, index, municipality)?.0);
    }
    let mut raised = 0;
    for agency_id in routed_to {
        let readiness = check_agency(tx, &agency_id, true, now)?;
        if readiness.ready {
            continue;
        }
        let missing: Vec<String> = readiness.problems.iter().map(|p| format!("- {}", p.message)).collect();
        tracing::warn!(agency = %readiness.agency.code, "an agency that receives emergencies cannot be reached");
        let new = NewAlert {
            severity: Severity::High,
            source: AlertSource::AgencyUnreachable,
            agency_id: agency_id.clone(),
            area_id: None,
            title: format!(
                "Agjencia nuk arrihet për emergjenca / Agency cannot be reached for emergencies: {}",
                readiness.agency.name
            ),
            details: Some(missing.join("\n")),
            dedup_key: Some(format!("readiness:{agency_id}")),
            identification_id: None,
            profile_id: None,
            referral_id: None,
            policy: Some(coverage::coordinators_only()),
        };
        if service::raise(tx, &Actor::system(), new, at)?.1 {
            raised += 1;
        }
    }
    enqueue_next(tx, now, at)?;
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn the_readiness_check_keeps_its_stored_form() {
        let check = ReadinessCheck { at: Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap() };
        assert_stored_form(r#"{"at":"2026-12-03T10:00:00Z"}"#, &check);
        assert_eq!(check.dedup_key(), "readiness:2026-12-03T10");
    }
}
