//! Active hotspots of the caller's agency or lying in the areas it serves.

use diesel::prelude::*;
use terren_contract::Permission;

use super::{Collection, Context, Selection, put_each, select_ids};
use crate::access;
use crate::changes::kinds;
use crate::db::schema::hotspots;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::sync::answer::Answer;

pub struct Hotspots;

impl Collection for Hotspots {
    fn kind(&self) -> &'static str {
        kinds::HOTSPOT
    }

    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>> {
        if !cx.user.can(Permission::ReferenceRead) {
            return Ok(Vec::new());
        }
        let areas: Vec<String> = access::scope_area_ids(cx.index, cx.user).into_iter().collect();
        let query = hotspots::table.filter(hotspots::active.eq(true)).filter(
            hotspots::agency_id
                .eq(cx.user.agency.id.clone())
                .or(hotspots::municipality_id.eq_any(areas.clone()))
                .or(hotspots::admin_unit_id.eq_any(areas)),
        );
        Ok(select_ids!(conn, query, hotspots::id, selection))
    }

    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>> {
        put_each(
            tx,
            ids,
            |tx, id| crate::hotspots::service::get(tx, cx.index, cx.user, id),
            |hotspot| answer.hotspots.put.push(hotspot),
        )
    }
}
