//! A whole offline shift in one upload: each operation applied as its own endpoint applies it,
//! under its own key and in its own transaction, emergencies first.

use std::collections::HashMap;

use terren_contract::alerts::Severity;
use terren_contract::batch::{BatchOperation, BatchOutcome, MAX_OPERATIONS, OperationResult};
use terren_contract::problem::FieldErrorCode;
use terren_contract::problem::Problem;
use terren_contract::referrals::Priority;
use uuid::Uuid;
use validator::Validate;

use crate::access::AuthUser;
use crate::alerts::routes::RaiseAlert;
use crate::alerts::service::{self as alerts, Transition};
use crate::http::idempotency::{self, IdempotencyKey, Outcome, Target};
use crate::http::json::field_errors;
use crate::http::lang::Lang;
use crate::http::{ApiError, ApiResult, ErrorCode, audited};
use crate::identifications::routes::RecordSighting;
use crate::ids::{AlertId, ReferralId};
use crate::profiles::routes::Link;
use crate::referrals::routes::referrals::{Comment, SendReferral};
use crate::rounds::routes::{check_in_write, check_out_write, visit_write};
use crate::state::AppState;

/// One operation as it arrived: parsed, or the problem with it.
struct Arrived {
    key: Option<String>,
    operation: Result<BatchOperation, Problem>,
    /// The ids of the records it makes with ids the phone chose; for one that does not parse,
    /// those its body names, so that what refers to them is not applied without them.
    makes: Vec<Uuid>,
}

fn arrive(value: serde_json::Value, lang: Lang) -> Arrived {
    let key = value.get("key").and_then(|key| key.as_str()).map(str::to_owned);
    let named = |pointer: &str| value.pointer(pointer).and_then(|id| id.as_str()).and_then(|id| id.parse().ok());
    let named: Vec<Uuid> = ["/body/id", "/body/new_profile/id"].into_iter().filter_map(named).collect();
    let operation = serde_json::to_vec(&value)
        .map_err(|e| ApiError::internal(anyhow::Error::from(e)))
        .and_then(|bytes| crate::http::json::parse_json::<BatchOperation>(&bytes))
        .and_then(|operation| {
            checked_key(key.as_deref())?;
            validate(&operation)?;
            Ok(operation)
        })
        .map_err(|error| error.to_problem(lang));
    let makes = operation.as_ref().map_or(named, makes);
    Arrived { key, operation, makes }
}

/// A key is what the `Idempotency-Key` header of the operation's endpoint would take.
fn checked_key(key: Option<&str>) -> ApiResult<()> {
    match key {
        Some(key) if IdempotencyKey::well_formed(key) => Ok(()),
        _ => Err(ApiError::field(
            "key",
            FieldErrorCode::InvalidFormat,
            "1–255 visible ASCII characters, made once per write",
        )),
    }
}

fn validate(operation: &BatchOperation) -> ApiResult<()> {
    let checked = match operation {
        BatchOperation::RecordSighting(op) => op.body.validate(),
        BatchOperation::LinkSighting(op) => op.body.validate(),
        BatchOperation::SendReferral(op) => op.body.validate(),
        BatchOperation::CommentReferral(op) => op.body.validate(),
        BatchOperation::RaiseAlert(op) => op.body.validate(),
        BatchOperation::AcknowledgeAlert(op) => op.body.validate(),
        BatchOperation::CheckIn(op) => op.body.validate(),
        BatchOperation::ArriveAtStop(op) | BatchOperation::LeaveStop(op) => op.body.validate(),
        BatchOperation::CheckOut(op) => op.body.validate(),
    };
    checked.map_err(|errors| ApiError::fields(field_errors(&errors)))
}

/// The ids of the records an operation makes with ids the phone chose.
fn makes(operation: &BatchOperation) -> Vec<Uuid> {
    match operation {
        BatchOperation::RecordSighting(op) => vec![op.body.id],
        BatchOperation::LinkSighting(op) => op.body.new_profile.iter().map(|profile| profile.id).collect(),
        BatchOperation::SendReferral(op) => vec![op.body.id],
        _ => Vec::new(),
    }
}

/// The ids of the records an operation refers to.
fn refers_to(operation: &BatchOperation) -> Vec<Uuid> {
    match operation {
        BatchOperation::LinkSighting(op) => {
            [Some(op.identification_id), op.body.profile_id].into_iter().flatten().collect()
        }
        BatchOperation::SendReferral(op) => {
            [op.body.identification_id, op.body.profile_id].into_iter().flatten().collect()
        }
        BatchOperation::RaiseAlert(op) => {
            [op.body.identification_id, op.body.profile_id].into_iter().flatten().collect()
        }
        BatchOperation::CommentReferral(op) => vec![op.referral_id],
        _ => Vec::new(),
    }
}

fn is_emergency(operation: &BatchOperation) -> bool {
    match operation {
        BatchOperation::RecordSighting(op) => op.body.emergency,
        BatchOperation::SendReferral(op) => op.body.priority == Priority::Emergency,
        BatchOperation::RaiseAlert(op) => op.body.severity == Severity::Emergency,
        _ => false,
    }
}

/// The order operations are applied in: emergencies and what they refer to in the batch first,
/// then the rest, each group in the order sent.
fn application_order(arrived: &[Arrived], maker: &HashMap<Uuid, usize>) -> Vec<usize> {
    let mut urgent: Vec<bool> = arrived.iter().map(|a| a.operation.as_ref().is_ok_and(is_emergency)).collect();
    let mut pending: Vec<usize> = (0..arrived.len()).filter(|&i| urgent[i]).collect();
    while let Some(i) = pending.pop() {
        let Ok(operation) = &arrived[i].operation else { continue };
        for id in refers_to(operation) {
            if let Some(&j) = maker.get(&id)
                && j < i
                && !urgent[j]
            {
                urgent[j] = true;
                pending.push(j);
            }
        }
    }
    let (first, rest): (Vec<usize>, Vec<usize>) = (0..arrived.len()).partition(|&i| urgent[i]);
    first.into_iter().chain(rest).collect()
}

/// Applies a batch for `user`, answering each operation's result in the order sent.
pub async fn apply(state: &AppState, user: &AuthUser, lang: Lang, operations: Vec<serde_json::Value>) -> BatchOutcome {
    let arrived: Vec<Arrived> = operations.into_iter().map(|value| arrive(value, lang)).collect();
    let mut maker: HashMap<Uuid, usize> = HashMap::new();
    for (i, one) in arrived.iter().enumerate() {
        for id in &one.makes {
            maker.entry(*id).or_insert(i);
        }
    }
    let mut failed = vec![false; arrived.len()];
    let mut results: Vec<Option<OperationResult>> = (0..arrived.len()).map(|_| None).collect();
    for (applied, i) in application_order(&arrived, &maker).into_iter().enumerate() {
        let one = &arrived[i];
        let answer = match &one.operation {
            Err(problem) => Err(problem.clone()),
            Ok(_) if applied >= MAX_OPERATIONS => Err(ApiError::new(ErrorCode::BatchTooLarge).to_problem(lang)),
            Ok(operation) => match blocked(operation, i, &maker, &failed) {
                Some(problem) => Err(problem.to_problem(lang)),
                None => run(state, user, lang, operation).await.map_err(|error| error.to_problem(lang)),
            },
        };
        let (index, key) = (u32::try_from(i).unwrap_or(u32::MAX), one.key.clone());
        let result = match answer {
            Ok(Applied { outcome, id }) => {
                let refused = !outcome.status.is_success();
                OperationResult {
                    index,
                    key,
                    status: outcome.status.as_u16(),
                    id: if refused { None } else { id },
                    replayed: outcome.replayed,
                    problem: if refused { serde_json::from_str(&outcome.body).ok() } else { None },
                }
            }
            Err(problem) => OperationResult {
                index,
                key,
                status: problem.status,
                id: None,
                replayed: false,
                problem: Some(problem),
            },
        };
        failed[i] = result.problem.is_some() || !(200..300).contains(&result.status);
        results[i] = Some(result);
    }
    BatchOutcome { results: results.into_iter().flatten().collect() }
}

/// Why an operation cannot be applied because of another in the batch, if it cannot.
fn blocked(operation: &BatchOperation, i: usize, maker: &HashMap<Uuid, usize>, failed: &[bool]) -> Option<ApiError> {
    refers_to(operation).into_iter().find_map(|id| match maker.get(&id) {
        Some(&j) if j > i => Some(
            ApiError::new(ErrorCode::BatchOutOfOrder).with_detail(format!("{id} is made by operation {j}, sent later")),
        ),
        Some(&j) if j < i && failed[j] => {
            Some(ApiError::new(ErrorCode::BatchDependencyFailed).with_detail(format!("operation {j} was to make {id}")))
        }
        _ => None,
    })
}

/// What an operation answered, as its endpoint would have: the id of its record on success.
struct Applied {
    outcome: Outcome,
    id: Option<Uuid>,
}

async fn run(state: &AppState, user: &AuthUser, lang: Lang, operation: &BatchOperation) -> ApiResult<Applied> {
    let target = |path: String| Target { method: "POST", path, lang };
    let key = |key: &str| IdempotencyKey(key.to_owned());
    let user_id = user.user_id.clone();
    let (outcome, id) = match operation.clone() {
        BatchOperation::RecordSighting(op) => {
            let id = op.body.id;
            let write = RecordSighting::new(state, user.clone(), op.body);
            (
                idempotency::run(state, &target(RecordSighting::PATH.into()), user_id, key(&op.key), write).await?,
                Some(id),
            )
        }
        BatchOperation::LinkSighting(op) => {
            let path = Link::path(&op.identification_id);
            let write = Link::new(state, user.clone(), op.identification_id, op.body);
            (idempotency::run(state, &target(path), user_id, key(&op.key), write).await?, Some(op.identification_id))
        }
        BatchOperation::SendReferral(op) => {
            let id = op.body.id;
            let write = SendReferral::new(state, user.clone(), op.body);
            (idempotency::run(state, &target(SendReferral::PATH.into()), user_id, key(&op.key), write).await?, Some(id))
        }
        BatchOperation::CommentReferral(op) => {
            let path = Comment::path(&op.referral_id);
            let write = Comment::new(state, user.clone(), ReferralId::from(op.referral_id), op.body);
            (idempotency::run(state, &target(path), user_id, key(&op.key), write).await?, Some(op.referral_id))
        }
        BatchOperation::RaiseAlert(op) => {
            let write = RaiseAlert::new(state, user.clone(), op.body);
            let outcome =
                idempotency::run(state, &target(RaiseAlert::PATH.into()), user_id, key(&op.key), write).await?;
            let id = answered_id(&outcome);
            (outcome, id)
        }
        BatchOperation::AcknowledgeAlert(op) => {
            let (user, id, action) = (user.clone(), AlertId::from(op.alert_id), op.body);
            let alert = audited(state, move |tx, index, at| {
                alerts::transition(tx, index, &user, &id, Transition::Acknowledge, &action, at)
            })
            .await?;
            let body = serde_json::to_string(&alert).map_err(anyhow::Error::from)?;
            (Outcome { status: actix_web::http::StatusCode::OK, body, replayed: false }, Some(op.alert_id))
        }
        BatchOperation::CheckIn(op) => {
            let path = format!("/api/v1/rounds/{}/check-in", op.round_id);
            let write = check_in_write(state, user.clone(), op.round_id, op.body);
            (idempotency::run(state, &target(path), user_id, key(&op.key), write).await?, Some(op.round_id))
        }
        BatchOperation::ArriveAtStop(op) | BatchOperation::LeaveStop(op) => {
            let arrive = matches!(operation, BatchOperation::ArriveAtStop(_));
            let path = format!(
                "/api/v1/rounds/{}/stops/{}/{}",
                op.round_id,
                op.position,
                if arrive { "arrive" } else { "leave" }
            );
            let write = visit_write(state, user.clone(), (op.round_id, op.position), arrive, op.body);
            (idempotency::run(state, &target(path), user_id, key(&op.key), write).await?, Some(op.round_id))
        }
        BatchOperation::CheckOut(op) => {
            let path = format!("/api/v1/rounds/{}/check-out", op.round_id);
            let write = check_out_write(state, user.clone(), op.round_id, op.body);
            (idempotency::run(state, &target(path), user_id, key(&op.key), write).await?, Some(op.round_id))
        }
    };
    Ok(Applied { outcome, id })
}

fn answered_id(outcome: &Outcome) -> Option<Uuid> {
    let body: serde_json::Value = serde_json::from_str(&outcome.body).ok()?;
    body.get("id")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sighting(n: u128, emergency: bool) -> serde_json::Value {
        json!({ "type": "record_sighting", "key": format!("s-{n}"), "body": {
            "id": Uuid::from_u128(n), "observed_at": "2026-03-02T08:55:00Z", "subject_type": "child",
            "sex": "female", "risk_level": if emergency { "emergency" } else { "low" }, "emergency": emergency,
            "location_not_collected_reason": "no_fix"
        }})
    }

    fn alert(n: u128, severity: &str, about: u128) -> serde_json::Value {
        json!({ "type": "raise_alert", "key": format!("a-{n}"), "body": {
            "severity": severity, "title": "Fëmijë vetëm", "identification_id": Uuid::from_u128(about)
        }})
    }

    fn order(values: Vec<serde_json::Value>) -> Vec<usize> {
        let arrived: Vec<Arrived> = values.into_iter().map(|value| arrive(value, Lang::En)).collect();
        for one in &arrived {
            assert!(one.operation.is_ok(), "{:?}", one.operation.as_ref().err());
        }
        let maker = arrived.iter().enumerate().flat_map(|(i, a)| a.makes.iter().map(move |id| (*id, i))).collect();
        application_order(&arrived, &maker)
    }

    #[test]
    fn emergencies_and_what_they_refer_to_go_first_the_rest_keeps_its_order() {
        let applied = order(vec![
            sighting(1, false),
            sighting(2, false),
            alert(3, "emergency", 2),
            sighting(4, true),
            alert(5, "normal", 1),
        ]);
        assert_eq!(applied, [1, 2, 3, 0, 4]);
        assert_eq!(order(vec![sighting(1, false), sighting(2, false)]), [0, 1]);
    }
}
