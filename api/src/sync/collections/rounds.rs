//! The caller's teams' rounds from yesterday to a week ahead (local days of the caller's
//! agency), with their stops; a cancelled round is no longer one.

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::rounds::RoundStatus;

use super::{Collection, Context, Selection, missing, select_ids};
use crate::changes::kinds;
use crate::db::schema::{rounds, team_members};
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::ids::UserId;
use crate::rounds::store::RoundRow;
use crate::sync::answer::Answer;
use crate::vocabularies::wire_code;

pub struct Rounds;

/// Days ahead of today a phone holds rounds for.
const DAYS_AHEAD: u64 = 7;

/// The first and last local day of the window at `at`.
fn days(conn: &mut DbConnection, cx: &Context<'_>, at: NaiveDateTime) -> ApiResult<(NaiveDate, NaiveDate)> {
    let zone = crate::hotspots::service::agency_zone(conn, &cx.user.agency.id)?;
    let today = at.and_utc().with_timezone(&zone).date_naive();
    Ok((today - Days::new(1), today + Days::new(DAYS_AHEAD)))
}

/// The caller's teams' rounds that are not cancelled, planned on local days `first..=last`.
fn planned(cx: &Context<'_>, first: NaiveDate, last: NaiveDate) -> planned_for {
    planned_for(cx.user.user_id.clone(), wire_code(RoundStatus::Cancelled), first.to_string(), last.to_string())
}

#[diesel::dsl::auto_type]
fn planned_for(user: UserId, cancelled: String, first: String, last: String) -> _ {
    rounds::table
        .filter(
            rounds::team_id
                .eq_any(team_members::table.filter(team_members::user_id.eq(user)).select(team_members::team_id)),
        )
        .filter(rounds::status.ne(cancelled))
        .filter(rounds::local_date.ge(first).and(rounds::local_date.le(last)))
}

impl Collection for Rounds {
    fn kind(&self) -> &'static str {
        kinds::ROUND
    }

    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>> {
        let (first, last) = days(conn, cx, cx.at)?;
        Ok(select_ids!(conn, planned(cx, first, last), rounds::id, selection))
    }

    /// Rounds of days that left the window behind it, and of days that came into it ahead.
    fn moved(&self, conn: &mut DbConnection, cx: &Context<'_>, since: NaiveDateTime) -> ApiResult<Vec<String>> {
        let (was_first, was_last) = days(conn, cx, since)?;
        let (first, last) = days(conn, cx, cx.at)?;
        let mut moved = Vec::new();
        if was_first < first {
            moved.extend(planned(cx, was_first, first - Days::new(1)).select(rounds::id).load::<String>(conn)?);
        }
        if was_last < last {
            moved.extend(planned(cx, was_last + Days::new(1), last).select(rounds::id).load::<String>(conn)?);
        }
        Ok(moved)
    }

    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>> {
        let rows: Vec<RoundRow> = rounds::table
            .filter(rounds::id.eq_any(ids))
            .select(RoundRow::as_select())
            .order(rounds::id.asc())
            .load(tx.conn())?;
        let shown = crate::rounds::read::views(tx, cx.index, &rows)?;
        let hidden = missing(ids, shown.iter().map(|r| &r.id));
        answer.rounds.put.extend(shown);
        Ok(hidden)
    }
}
