//! Sightings in the caller's scope observed within the window, for recognising a child offline:
//! exact or coarse, with or without names, as the caller's role reads them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;

use super::{Collection, Context, Selection, missing, select_ids};
use crate::access::identifications::{ScopeExpression, scope_expression};
use crate::changes::kinds;
use crate::db::schema::identifications;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::sync::answer::Answer;

pub struct Sightings;

/// The sightings of the caller's working set observed from `since` on, as a query.
pub(super) fn members(cx: &Context<'_>, since: NaiveDateTime) -> observed_in_scope {
    observed_in_scope(scope_expression(cx.index, cx.user), since)
}

#[diesel::dsl::auto_type]
pub(super) fn observed_in_scope(scope: ScopeExpression, since: NaiveDateTime) -> _ {
    identifications::table.filter(scope).filter(identifications::observed_at.ge(since))
}

pub(super) fn reads(cx: &Context<'_>) -> bool {
    cx.user.can(Permission::IdentificationsRead)
}

impl Collection for Sightings {
    fn kind(&self) -> &'static str {
        kinds::IDENTIFICATION
    }

    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>> {
        if !reads(cx) {
            return Ok(Vec::new());
        }
        Ok(select_ids!(conn, members(cx, cx.window_start()), identifications::id, selection))
    }

    fn moved(&self, conn: &mut DbConnection, cx: &Context<'_>, since: NaiveDateTime) -> ApiResult<Vec<String>> {
        let (from, to) = (cx.window_start_at(since), cx.window_start());
        if !reads(cx) || from >= to {
            return Ok(Vec::new());
        }
        Ok(members(cx, from).filter(identifications::observed_at.lt(to)).select(identifications::id).load(conn)?)
    }

    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let shown = crate::identifications::lists::read_many(tx, cx.index, cx.user, ids, cx.at, "identification.sync")?;
        let hidden = missing(ids, shown.iter().map(|s| &s.id));
        answer.identifications.put.extend(shown);
        Ok(hidden)
    }
}
