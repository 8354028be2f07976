//! Rounds and their stops as stored: the rows, looking them up, and writing a round's stops.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::rounds::RoundStatus;

use crate::db::schema::{round_stops, rounds};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, TeamId};
use crate::vocabularies::parse_wire_code;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rounds)]
pub struct RoundRow {
    pub id: String,
    pub team_id: TeamId,
    pub agency_id: AgencyId,
    pub series_id: Option<String>,
    pub occurrence_key: Option<String>,
    pub detached: bool,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub local_date: String,
    pub purpose: String,
    pub notes: Option<String>,
    pub status: String,
    pub checked_in_by: Option<String>,
    pub checked_in_at: Option<NaiveDateTime>,
    pub check_in_lat: Option<f64>,
    pub check_in_lon: Option<f64>,
    pub check_in_distance_m: Option<f64>,
    pub check_in_reason: Option<String>,
    pub checked_out_by: Option<String>,
    pub checked_out_at: Option<NaiveDateTime>,
    pub report: Option<String>,
    pub created_by: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub check_out_lat: Option<f64>,
    pub check_out_lon: Option<f64>,
    /// When the missed-round check found nobody checked in; kept after a late check-in.
    pub missed_at: Option<NaiveDateTime>,
    /// When the server got the check-in and the check-out (`checked_in_at` and `checked_out_at`
    /// are when they happened, by the phone).
    pub checked_in_received_at: Option<NaiveDateTime>,
    pub checked_out_received_at: Option<NaiveDateTime>,
}

impl RoundRow {
    pub fn status(&self) -> ApiResult<RoundStatus> {
        parse_wire_code(&self.status)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = round_stops)]
pub struct StopRow {
    pub round_id: String,
    pub position: i32,
    pub hotspot_id: Option<String>,
    pub area_id: Option<String>,
    pub arrived_at: Option<NaiveDateTime>,
    pub arrived_lat: Option<f64>,
    pub arrived_lon: Option<f64>,
    pub left_at: Option<NaiveDateTime>,
    pub arrived_received_at: Option<NaiveDateTime>,
    pub left_received_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RoundRow>> {
    rounds::table.filter(rounds::id.eq(id)).select(RoundRow::as_select()).get_result(conn).optional()
}

pub fn load(conn: &mut DbConnection, id: &str) -> ApiResult<RoundRow> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("round"))
}

pub fn stops_of(conn: &mut DbConnection, round_ids: &[String]) -> QueryResult<Vec<StopRow>> {
    round_stops::table
        .filter(round_stops::round_id.eq_any(round_ids))
        .order((round_stops::round_id.asc(), round_stops::position.asc()))
        .select(StopRow::as_select())
        .load(conn)
}

/// A stop, resolved: a hotspot or an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub hotspot_id: Option<String>,
    pub area_id: Option<String>,
}

pub(super) fn write_stops(tx: &mut Tx<'_>, round_id: &str, stops: &[Stop]) -> QueryResult<()> {
    diesel::delete(round_stops::table.filter(round_stops::round_id.eq(round_id))).execute(tx.conn())?;
    for (position, stop) in stops.iter().enumerate() {
        diesel::insert_into(round_stops::table)
            .values((
                round_stops::round_id.eq(round_id),
                round_stops::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                round_stops::hotspot_id.eq(&stop.hotspot_id),
                round_stops::area_id.eq(&stop.area_id),
            ))
            .execute(tx.conn())?;
    }
    Ok(())
}
