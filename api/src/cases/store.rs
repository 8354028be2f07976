//! A protection case and its measures as stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{protection_cases, protection_measures};
use crate::ids::{AgencyId, CaseId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = protection_cases)]
pub struct CaseRow {
    pub id: CaseId,
    pub profile_id: String,
    pub agency_id: AgencyId,
    pub municipality_id: Option<String>,
    pub referral_id: Option<String>,
    pub opened_at: NaiveDateTime,
    pub identified_by: String,
    pub age_band: String,
    pub ethnicity: Option<String>,
    pub risk_level: Option<String>,
    pub primary_problem: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub closure_reason: Option<String>,
    pub content_hash: String,
    pub created_by: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = protection_measures)]
pub struct MeasureRow {
    pub id: String,
    pub case_id: CaseId,
    pub measure: String,
    pub taken_at: NaiveDateTime,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<CaseRow>> {
    protection_cases::table.find(id).select(CaseRow::as_select()).get_result(conn).optional()
}

/// The cases of a profile, oldest first.
pub fn of_profile(conn: &mut DbConnection, profile_id: &str) -> QueryResult<Vec<CaseRow>> {
    protection_cases::table
        .filter(protection_cases::profile_id.eq(profile_id))
        .order((protection_cases::opened_at, protection_cases::id))
        .select(CaseRow::as_select())
        .load(conn)
}

/// The profile's open case, if it has one (there is at most one).
pub fn open_case_of(conn: &mut DbConnection, profile_id: &str) -> QueryResult<Option<CaseRow>> {
    protection_cases::table
        .filter(protection_cases::profile_id.eq(profile_id))
        .filter(protection_cases::closed_at.is_null())
        .select(CaseRow::as_select())
        .first(conn)
        .optional()
}

/// The measures of some cases, each case's oldest first.
pub fn measures_of(conn: &mut DbConnection, case_ids: &[&str]) -> QueryResult<Vec<MeasureRow>> {
    protection_measures::table
        .filter(protection_measures::case_id.eq_any(case_ids))
        .order((protection_measures::case_id, protection_measures::taken_at, protection_measures::id))
        .select(MeasureRow::as_select())
        .load(conn)
}

pub fn find_measure(conn: &mut DbConnection, id: &str) -> QueryResult<Option<MeasureRow>> {
    protection_measures::table.find(id).select(MeasureRow::as_select()).get_result(conn).optional()
}
