//! Escalation policies: who each step notifies, checked for reachability when saved.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::alerts::{EscalationPolicy, EscalationPolicyBody, EscalationStep, PutEscalationPolicy, Target};
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::{Permission, Role};

use crate::access::AuthUser;
use crate::accounts::service::{agency_ref_of, person_ref};
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{escalation_policies, schedules, user_roles, users, webhook_endpoints};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::AgencyId;
use crate::rota::layers::window_errors;

/// Minutes each step of the default policy waits.
const DEFAULT_WAIT_MINUTES: u32 = 5;

/// The policy of an agency that has not written one: the on-call of each of its rotas, then its
/// coordinators, twice over.
pub fn default_policy(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<EscalationPolicyBody> {
    let schedule_ids: Vec<String> = schedules::table
        .filter(schedules::agency_id.eq(agency_id))
        .filter(schedules::archived_at.is_null())
        .order(schedules::created_at.asc())
        .select(schedules::id)
        .load(conn)?;
    let on_call: Vec<Target> = schedule_ids
        .iter()
        .filter_map(|id| id.parse().ok())
        .map(|schedule_id| Target::OnCall { schedule_id })
        .collect();
    let coordinators = EscalationStep {
        targets: vec![Target::Role { role: Role::Coordinator }],
        wait_minutes: DEFAULT_WAIT_MINUTES,
        only_when: Vec::new(),
    };
    let mut steps = Vec::new();
    if !on_call.is_empty() {
        steps.push(EscalationStep { targets: on_call, wait_minutes: DEFAULT_WAIT_MINUTES, only_when: Vec::new() });
    }
    steps.push(coordinators);
    Ok(EscalationPolicyBody { steps, repeat: 1, fallback: Vec::new() })
}

/// The agency's policy as stored, or the default one.
pub fn policy_of(conn: &mut DbConnection, agency_id: &AgencyId) -> ApiResult<EscalationPolicyBody> {
    let stored: Option<String> = escalation_policies::table
        .filter(escalation_policies::agency_id.eq(agency_id))
        .select(escalation_policies::policy)
        .get_result(conn)
        .optional()?;
    match stored {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("stored escalation policy of {agency_id} is invalid: {e}"))
        }),
        None => Ok(default_policy(conn, agency_id)?),
    }
}

/// Active people of the agency with a role.
pub fn with_role(conn: &mut DbConnection, agency_id: &AgencyId, role: Role) -> QueryResult<Vec<String>> {
    users::table
        .inner_join(user_roles::table)
        .filter(users::agency_id.eq(agency_id))
        .filter(users::disabled_at.is_null())
        .filter(user_roles::role.eq(role.as_str()))
        .order(users::username.asc())
        .select(users::id)
        .load(conn)
}

/// Whether a person can be reached at all, the way a page would reach them (a live push token
/// or a phone number).
fn reachable_person(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    Ok(super::recipients::reach_person(conn, user_id)?.is_some_and(|person| !person.addresses.is_empty()))
}

/// A phone number in international form: `+` and 8 to 15 digits.
pub fn is_phone(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether people with the role may open and acknowledge the alerts they are paged for.
fn responds(role: Role) -> bool {
    crate::auth::permissions::permissions_of(role).contains(&Permission::AlertsRespond)
}

/// What is wrong with a target: its field code and why.
type TargetProblem = (FieldErrorCode, String);

/// Checks one target: `Ok(Ok(false))` means it exists but nobody can be reached through it now,
/// `Ok(Err(_))` that the target is wrong. Failing to read the database is the server's problem
/// (`Err`), not the request's.
fn check_target(
    conn: &mut DbConnection,
    agency_id: &AgencyId,
    target: &Target,
) -> ApiResult<Result<bool, TargetProblem>> {
    Ok(match target {
        Target::OnCall { schedule_id } => {
            let found: i64 = schedules::table
                .filter(schedules::id.eq(schedule_id.to_string()))
                .filter(schedules::archived_at.is_null())
                .count()
                .get_result(conn)?;
            if found == 0 {
                return Ok(Err((FieldErrorCode::UnknownSchedule, format!("no schedule {schedule_id}"))));
            }
            Ok(true)
        }
        Target::User { user_id } => {
            let found: i64 = users::table.filter(users::id.eq(user_id.to_string())).count().get_result(conn)?;
            if found == 0 {
                return Ok(Err((FieldErrorCode::UnknownUser, format!("no user {user_id}"))));
            }
            let roles: Vec<String> = user_roles::table
                .filter(user_roles::user_id.eq(user_id.to_string()))
                .select(user_roles::role)
                .load(conn)?;
            if !roles.iter().filter_map(|r| Role::parse(r)).any(responds) {
                return Ok(Err((
                    FieldErrorCode::CannotRespond,
                    format!("user {user_id} has no role that may open and acknowledge alerts"),
                )));
            }
            Ok(reachable_person(conn, &user_id.to_string())?)
        }
        Target::Role { role } if !responds(*role) => Err((
            FieldErrorCode::CannotRespond,
            format!("the role {} may not open and acknowledge alerts", role.as_str()),
        )),
        Target::Role { role } => {
            let people = with_role(conn, agency_id, *role)?;
            for person in people {
                if reachable_person(conn, &person)? {
                    return Ok(Ok(true));
                }
            }
            Ok(false)
        }
        Target::Contact { name, phone } => {
            if name.trim().is_empty() {
                return Ok(Err((FieldErrorCode::Blank, "a contact needs a name".into())));
            }
            if !is_phone(phone) {
                return Ok(Err((
                    FieldErrorCode::InvalidPhone,
                    format!("{phone} is not an international number (+355…)"),
                )));
            }
            Ok(true)
        }
        Target::Webhook { webhook_id } => {
            let active: Option<bool> = webhook_endpoints::table
                .filter(webhook_endpoints::id.eq(webhook_id.to_string()))
                .filter(webhook_endpoints::agency_id.eq(agency_id))
                .select(webhook_endpoints::active)
                .get_result(conn)
                .optional()?;
            match active {
                None => {
                    Err((FieldErrorCode::UnknownWebhook, format!("no webhook endpoint {webhook_id} in this agency")))
                }
                Some(active) => Ok(active),
            }
        }
    })
}

/// Checks the targets, adding their problems to `errors`; whether any reaches somebody now.
fn check_targets(
    conn: &mut DbConnection,
    agency_id: &AgencyId,
    field: &str,
    targets: &[Target],
    errors: &mut Vec<FieldError>,
) -> ApiResult<bool> {
    let mut reachable = false;
    for (t, target) in targets.iter().enumerate() {
        match check_target(conn, agency_id, target)? {
            Ok(reaches) => reachable |= reaches,
            Err((code, message)) => {
                errors.push(FieldError { field: format!("{field}.targets[{t}]"), code, message });
            }
        }
    }
    Ok(reachable)
}

/// Checks a policy: every target exists, every step and the fallback reach somebody, windows are
/// valid times.
pub fn check(conn: &mut DbConnection, agency_id: &AgencyId, policy: &EscalationPolicyBody) -> ApiResult<()> {
    let mut errors = Vec::new();
    for (index, step) in policy.steps.iter().enumerate() {
        let field = format!("steps[{index}]");
        if !check_targets(conn, agency_id, &field, &step.targets, &mut errors)? {
            errors.push(FieldError {
                field: field.clone(),
                code: FieldErrorCode::UnreachableStep,
                message: "nobody can be reached by this step: no phone number, push token or active endpoint".into(),
            });
        }
        for (w, window) in step.only_when.iter().enumerate() {
            errors.extend(window_errors(&format!("{field}.only_when[{w}]"), window));
        }
    }
    if policy.steps.iter().all(|step| !step.only_when.is_empty()) {
        errors.push(FieldError {
            field: "steps".into(),
            code: FieldErrorCode::UnreachableStep,
            message: "at least one step must run at any time (without `only_when`)".into(),
        });
    }
    if !policy.fallback.is_empty() && !check_targets(conn, agency_id, "fallback", &policy.fallback, &mut errors)? {
        errors.push(FieldError {
            field: "fallback".into(),
            code: FieldErrorCode::UnreachableStep,
            message: "nobody can be reached by the fallback".into(),
        });
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

fn view(conn: &mut DbConnection, agency_id: &AgencyId) -> ApiResult<EscalationPolicy> {
    let (text, version, updated_by, updated_at): (String, i32, String, NaiveDateTime) = escalation_policies::table
        .filter(escalation_policies::agency_id.eq(agency_id))
        .select((
            escalation_policies::policy,
            escalation_policies::version,
            escalation_policies::updated_by,
            escalation_policies::updated_at,
        ))
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("escalation policy"))?;
    Ok(EscalationPolicy {
        agency: agency_ref_of(conn, agency_id)?,
        policy: serde_json::from_str(&text).map_err(anyhow::Error::from)?,
        version,
        updated_by: person_ref(conn, &updated_by)?,
        updated_at: to_utc(updated_at),
    })
}

pub fn get(conn: &mut DbConnection, user: &AuthUser, agency_id: &AgencyId) -> ApiResult<EscalationPolicy> {
    user.require(Permission::ReferenceRead)?;
    view(conn, agency_id)
}

pub fn put(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    agency_id: &AgencyId,
    request: &PutEscalationPolicy,
    at: NaiveDateTime,
) -> ApiResult<EscalationPolicy> {
    user.require(Permission::PlanningManage)?;
    if user.agency.id != *agency_id {
        return Err(ApiError::forbidden("an agency sets its own escalation policy"));
    }
    check(tx, agency_id, &request.policy)?;
    let text = serde_json::to_string(&request.policy).map_err(anyhow::Error::from)?;
    let current: Option<i32> = escalation_policies::table
        .filter(escalation_policies::agency_id.eq(agency_id))
        .select(escalation_policies::version)
        .get_result(tx.conn())
        .optional()?;
    match (current, request.version) {
        (None, None) => {
            diesel::insert_into(escalation_policies::table)
                .values((
                    escalation_policies::agency_id.eq(agency_id),
                    escalation_policies::policy.eq(&text),
                    escalation_policies::version.eq(1),
                    escalation_policies::updated_by.eq(&user.user_id),
                    escalation_policies::updated_at.eq(at),
                ))
                .execute(tx.conn())?;
        }
        (Some(current), Some(version)) if current == version => {
            let updated = diesel::update(
                escalation_policies::table
                    .filter(escalation_policies::agency_id.eq(agency_id))
                    .filter(escalation_policies::version.eq(version)),
            )
            .set((
                escalation_policies::policy.eq(&text),
                escalation_policies::version.eq(version + 1),
                escalation_policies::updated_by.eq(&user.user_id),
                escalation_policies::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
            if updated == 0 {
                return Err(ApiError::conflict("the policy changed while it was being saved; read it again"));
            }
        }
        (Some(_), _) => {
            let current = view(tx, agency_id)?;
            return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
        }
        (None, Some(_)) => {
            return Err(ApiError::field(
                "version",
                FieldErrorCode::NoPolicy,
                "the agency has no policy yet: omit `version`",
            ));
        }
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "escalation_policy.put",
        "agency",
        agency_id,
        json!({ "policy": request.policy }),
    )?;
    view(tx, agency_id)
}

#[cfg(test)]
mod tests {
    use diesel::SqliteConnection;
    use uuid::Uuid;

    use super::*;
    use crate::http::ErrorCode;

    /// A database that cannot be read while the targets are checked is the server's failure (500),
    /// never a problem with a field of the request.
    #[test]
    fn a_failed_read_while_checking_targets_is_an_internal_error() {
        // No tables: every read fails.
        let mut conn = DbConnection::Sqlite(SqliteConnection::establish(":memory:").unwrap());
        let step =
            EscalationStep { targets: vec![Target::User { user_id: Uuid::nil() }], wait_minutes: 5, only_when: vec![] };
        let policy = EscalationPolicyBody { steps: vec![step], repeat: 0, fallback: vec![] };
        let error = check(&mut conn, &AgencyId::from_stored("agency"), &policy).unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        assert_eq!(error.code.status().as_u16(), 500);
        assert!(error.errors.is_empty(), "{:?}", error.errors);
    }
}
