//! A sighting as stored, and the queries its use cases share: the row, its code lists, the
//! people and agencies behind a page of rows, and the filter for the areas a sighting lies in.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::profiles::ProfileRef;

use crate::accounts::model::AgencyBrief;
use crate::db::DbConnection;
use crate::db::schema::{agencies, child_profiles, identification_links, identifications, users};
use crate::ids::AgencyId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = identifications, treat_none_as_null = true)]
pub struct IdentificationRow {
    pub id: String,
    pub recorded_by: String,
    pub agency_id: AgencyId,
    pub device_id: String,
    pub observed_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub altitude_m: Option<f64>,
    pub fix_time: Option<NaiveDateTime>,
    pub location_source: Option<String>,
    pub mock_location: bool,
    pub location_not_collected_reason: Option<String>,
    pub place_description: Option<String>,
    pub county_id: Option<String>,
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
    pub locate_method: String,
    pub cell_key: Option<String>,
    pub subject_type: String,
    pub estimated_age: Option<i32>,
    pub birth_year: Option<i32>,
    pub age_band: String,
    pub sex: String,
    pub nationality: Option<String>,
    pub languages: String,
    pub ethnicity: Option<String>,
    pub residence_origin: Option<String>,
    pub street_situations: String,
    pub accompanied_by: Option<String>,
    pub risk_factors: String,
    pub exploitation_indicators: String,
    pub visible_conditions: String,
    pub immediate_needs: String,
    pub actions_taken: String,
    pub consent_given_by: Option<String>,
    pub risk_level: String,
    pub emergency: bool,
    pub notes: Option<String>,
    /// Fingerprint of the request as recorded: the same id sent again must carry the same record.
    pub content_hash: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The name the person gave in the field.
    pub name_as_told: Option<String>,
    /// When the retention job replaced the precise location by its coarse cell.
    pub location_coarsened_at: Option<NaiveDateTime>,
    pub round_id: Option<String>,
    /// Recorded from an SMS: the recorder's first upload of the full sighting completes it.
    pub provisional: bool,
}

/// A code list as stored: a JSON array.
pub fn codes(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

pub fn parse_codes(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub fn find_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<IdentificationRow>> {
    identifications::table.find(id).select(IdentificationRow::as_select()).get_result(conn).optional()
}

/// Who recorded a page of sightings and for which agency, loaded once per page.
pub struct Lookups {
    pub(super) people: HashMap<String, String>,
    pub(super) agencies: HashMap<AgencyId, AgencyBrief>,
    pub(super) profiles: HashMap<String, ProfileRef>,
}

impl Lookups {
    pub fn load(conn: &mut DbConnection, rows: &[IdentificationRow]) -> QueryResult<Lookups> {
        let user_ids: HashSet<&str> = rows.iter().map(|r| r.recorded_by.as_str()).collect();
        let agency_ids: HashSet<&str> = rows.iter().map(|r| r.agency_id.as_str()).collect();
        let people = users::table
            .filter(users::id.eq_any(user_ids))
            .select((users::id, users::display_name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        let agencies = agencies::table
            .filter(agencies::id.eq_any(agency_ids))
            .select((agencies::id, agencies::code, agencies::name))
            .load::<AgencyBrief>(conn)?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut profiles = HashMap::new();
        let links: Vec<(String, String, String)> = identification_links::table
            .inner_join(child_profiles::table)
            .filter(identification_links::identification_id.eq_any(ids))
            .select((identification_links::identification_id, child_profiles::id, child_profiles::reference))
            .load(conn)?;
        for (identification_id, profile_id, reference) in links {
            if let Ok(id) = profile_id.parse() {
                profiles.insert(identification_id, ProfileRef { id, reference });
            }
        }
        Ok(Lookups { people, agencies, profiles })
    }
}

pub(crate) type Backend = <DbConnection as diesel::Connection>::Backend;

/// Sightings resolved to any of these areas, at whichever level they were resolved.
pub fn located_in(
    area_ids: Vec<String>,
) -> Box<dyn BoxableExpression<identifications::table, Backend, SqlType = diesel::sql_types::Bool>> {
    Box::new(
        identifications::county_id
            .eq_any(area_ids.clone())
            .assume_not_null()
            .or(identifications::municipality_id.eq_any(area_ids.clone()).assume_not_null())
            .or(identifications::admin_unit_id.eq_any(area_ids).assume_not_null()),
    )
}
