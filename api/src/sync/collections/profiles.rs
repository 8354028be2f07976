//! The child profiles the working set's sightings are linked to, where the caller may see them;
//! a profile merged into another is no longer one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::sightings::{members, reads};
use super::{Collection, Context, Selection, missing, select_ids};
use crate::access::profiles::visible_filter;
use crate::changes::kinds;
use crate::db::schema::{child_profiles, identification_links, identifications};
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::sync::answer::Answer;

pub struct Profiles;

impl Collection for Profiles {
    fn kind(&self) -> &'static str {
        kinds::PROFILE
    }

    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>> {
        if !reads(cx) {
            return Ok(Vec::new());
        }
        let sightings = members(cx, cx.window_start()).select(identifications::id);
        let linked = identification_links::table
            .filter(identification_links::identification_id.eq_any(sightings))
            .select(identification_links::profile_id);
        let query = child_profiles::table
            .filter(child_profiles::merged_into.is_null())
            .filter(visible_filter(cx.index, cx.user))
            .filter(child_profiles::id.eq_any(linked));
        Ok(select_ids!(conn, query, child_profiles::id, selection))
    }

    /// The profiles of sightings that left the window may have left with them.
    fn moved(&self, conn: &mut DbConnection, cx: &Context<'_>, since: NaiveDateTime) -> ApiResult<Vec<String>> {
        let (from, to) = (cx.window_start_at(since), cx.window_start());
        if !reads(cx) || from >= to {
            return Ok(Vec::new());
        }
        let left = members(cx, from).filter(identifications::observed_at.lt(to)).select(identifications::id);
        Ok(identification_links::table
            .filter(identification_links::identification_id.eq_any(left))
            .select(identification_links::profile_id)
            .distinct()
            .load(conn)?)
    }

    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let shown = crate::profiles::views::read_many(tx, cx.index, cx.user, ids, cx.at, "child_profile.sync")?;
        let hidden = missing(ids, shown.iter().map(|p| &p.id));
        answer.profiles.put.extend(shown);
        Ok(hidden)
    }
}
