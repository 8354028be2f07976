//! Alerts the caller raised, the caller's agency must answer, or the caller was paged for: open
//! ones, and closed ones raised within the window.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::alerts::AlertState;

use super::{Collection, Context, Selection, put_each, select_ids};
use crate::access;
use crate::changes::kinds;
use crate::db::schema::alerts;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::ids::AlertId;
use crate::sync::answer::Answer;
use crate::vocabularies::wire_code;

pub struct Alerts;

impl Collection for Alerts {
    fn kind(&self) -> &'static str {
        kinds::ALERT
    }

    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>> {
        let open = alerts::state.eq_any(AlertState::OPEN.map(wire_code));
        let query = alerts::table
            .filter(access::alerts::list_filter(cx.user))
            .filter(open.or(alerts::created_at.ge(cx.window_start())));
        Ok(select_ids!(conn, query, alerts::id, selection))
    }

    fn moved(&self, conn: &mut DbConnection, cx: &Context<'_>, since: NaiveDateTime) -> ApiResult<Vec<String>> {
        let (from, to) = (cx.window_start_at(since), cx.window_start());
        if from >= to {
            return Ok(Vec::new());
        }
        Ok(alerts::table
            .filter(access::alerts::list_filter(cx.user))
            .filter(alerts::state.ne_all(AlertState::OPEN.map(wire_code)))
            .filter(alerts::created_at.ge(from).and(alerts::created_at.lt(to)))
            .select(alerts::id)
            .load(conn)?)
    }

    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>> {
        put_each(
            tx,
            ids,
            |tx, id| crate::alerts::service::get(tx, cx.index, cx.user, &AlertId::from_stored(id)),
            |alert| answer.alerts.put.push(alert),
        )
    }
}
