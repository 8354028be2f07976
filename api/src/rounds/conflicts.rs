//! Conflicts of a round with its people's time: another round of theirs then, or (if the agency
//! forbids it) their duty in a rota.

use std::collections::BTreeSet;

use diesel::prelude::*;
use terren_contract::rounds::{PlanningPolicy, RoundStatus};

use super::teams::{self, TeamRow};
use super::window::Window;
use crate::accounts::service::person_refs;
use crate::db::Tx;
use crate::db::schema::{rounds, team_members, users};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::AgencyId;
use crate::vocabularies::wire_code;

/// People who cannot go out then: in another round, or (if the agency forbids it) on duty.
pub(super) fn busy(
    tx: &mut Tx<'_>,
    team: &TeamRow,
    window: &Window,
    exclude_round: Option<&str>,
    policy: &PlanningPolicy,
) -> ApiResult<Vec<String>> {
    let members = teams::member_ids(tx, &team.id)?;
    busy_members(tx, team, &members, window, exclude_round, policy)
}

/// Which of `members` cannot go out with `team` then, and why.
pub(super) fn busy_members(
    tx: &mut Tx<'_>,
    team: &TeamRow,
    members: &[String],
    window: &Window,
    exclude_round: Option<&str>,
    policy: &PlanningPolicy,
) -> ApiResult<Vec<String>> {
    // Held to the commit, so that the round (or membership) written after this check cannot
    // cross another coordinator's.
    crate::db::backend::serialise_writers(tx, "rounds")?;
    let (starts, ends) = (crate::clock::truncate(window.starts_at), crate::clock::truncate(window.ends_at));
    let open = [wire_code(RoundStatus::Planned), wire_code(RoundStatus::InProgress)];
    let mut clashes: Vec<(String, String)> = rounds::table
        .inner_join(team_members::table.on(team_members::team_id.eq(rounds::team_id)))
        .filter(team_members::user_id.eq_any(members))
        .filter(rounds::status.eq_any(open))
        .filter(rounds::starts_at.lt(ends))
        .filter(rounds::ends_at.gt(starts))
        .filter(rounds::id.ne(exclude_round.unwrap_or_default()))
        .select((team_members::user_id, rounds::local_date))
        .load(tx.conn())?
        .into_iter()
        .map(|(user, date): (String, String)| (user, format!("in another round on {date}")))
        .collect();
    if policy.forbid_rounds_while_on_duty {
        // The rotas of every member's agency: in a joint team, the police officer's own rota.
        let mut agencies: Vec<AgencyId> =
            users::table.filter(users::id.eq_any(members)).select(users::agency_id).distinct().load(tx.conn())?;
        agencies.push(team.agency_id.clone());
        agencies.sort();
        agencies.dedup();
        let schedules = crate::rota::service::live_schedules(tx, &agencies)?;
        for (_, schedule_id, _) in schedules {
            let loaded = crate::rota::service::load(tx, &schedule_id)?;
            for shift in loaded.resolve(tx, window.starts_at, window.ends_at)? {
                for person in shift.people.iter().filter(|p| members.contains(*p)) {
                    clashes.push((person.clone(), "on duty in the rota".into()));
                }
            }
        }
    }
    let people: BTreeSet<String> = clashes.iter().map(|(p, _)| p.clone()).collect();
    let names = person_refs(tx, &people)?;
    let mut described: Vec<String> = clashes
        .into_iter()
        .map(|(person, why)| format!("{} is {why}", names.get(&person).map_or(person.as_str(), |p| &p.display_name)))
        .collect();
    described.sort();
    described.dedup();
    Ok(described)
}

pub(super) fn conflict(mut described: Vec<String>) -> ApiError {
    // The first few say enough; a long series could clash on every day.
    described.truncate(5);
    ApiError::new(ErrorCode::RoundConflict).with_detail(described.join("; "))
}
