use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::agencies::{Agency, AgencyListQuery, AgencyUpdate, CreateAgencyRequest};
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;

use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{agencies, agency_areas, areas};
use crate::db::{DbConnection, PooledConn, Tx, backend};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::AgencyId;
use crate::seed::DEFAULT_TIME_ZONE;
use crate::territory::fold::fold;
use crate::territory::index::TerritoryIndex;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agencies)]
pub struct AgencyRow {
    pub id: AgencyId,
    pub code: String,
    pub name: String,
    pub name_en: Option<String>,
    pub agency_type: String,
    pub municipality_id: Option<String>,
    pub parent_id: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub hours: Option<String>,
    pub is_24_7: bool,
    pub capacity: Option<i32>,
    pub time_zone: String,
    pub notes: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub occupied: Option<i32>,
    pub occupancy_updated_at: Option<NaiveDateTime>,
}

fn area_codes_by_id(conn: &mut DbConnection) -> QueryResult<HashMap<String, String>> {
    Ok(areas::table.select((areas::id, areas::code)).load::<(String, String)>(conn)?.into_iter().collect())
}

fn to_dtos(conn: &mut DbConnection, rows: Vec<AgencyRow>) -> ApiResult<Vec<Agency>> {
    let area_codes = area_codes_by_id(conn)?;
    let agency_codes: HashMap<String, String> =
        agencies::table.select((agencies::id, agencies::code)).load::<(String, String)>(conn)?.into_iter().collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut served: HashMap<AgencyId, Vec<String>> = HashMap::new();
    for (agency_id, area_id) in agency_areas::table
        .filter(agency_areas::agency_id.eq_any(&ids))
        .select((agency_areas::agency_id, agency_areas::area_id))
        .load::<(AgencyId, String)>(conn)?
    {
        if let Some(code) = area_codes.get(&area_id) {
            served.entry(agency_id).or_default().push(code.clone());
        }
    }
    rows.into_iter()
        .map(|row| {
            let mut area_list = served.remove(&row.id).unwrap_or_default();
            area_list.sort();
            Ok(Agency {
                id: row.id.uuid()?,
                municipality_code: row.municipality_id.as_ref().and_then(|id| area_codes.get(id)).cloned(),
                parent_code: row.parent_id.as_ref().and_then(|id| agency_codes.get(id)).cloned(),
                area_codes: area_list,
                code: row.code,
                name: row.name,
                name_en: row.name_en,
                agency_type: row.agency_type,
                address: row.address,
                phone: row.phone,
                email: row.email,
                hours: row.hours,
                is_24_7: row.is_24_7,
                capacity: row.capacity,
                occupied: row.occupied,
                occupancy_updated_at: row.occupancy_updated_at.map(to_utc),
                time_zone: row.time_zone,
                notes: row.notes,
                active: row.active,
                version: row.version,
                updated_at: to_utc(row.updated_at),
            })
        })
        .collect()
}

pub fn list(conn: &mut DbConnection, index: &TerritoryIndex, query: &AgencyListQuery) -> ApiResult<Vec<Agency>> {
    let mut q = agencies::table.select(AgencyRow::as_select()).order(agencies::code.asc()).into_boxed();
    if !query.include_inactive.unwrap_or(false) {
        q = q.filter(agencies::active.eq(true));
    }
    if let Some(agency_type) = &query.agency_type {
        q = q.filter(agencies::agency_type.eq(agency_type.clone()));
    }
    if let Some(is_24_7) = query.is_24_7 {
        q = q.filter(agencies::is_24_7.eq(is_24_7));
    }
    if let Some(code) = &query.municipality {
        let area = index.find_code(code).ok_or_else(|| unknown_area("municipality", code))?;
        q = q.filter(agencies::municipality_id.eq(index.area(area).id.clone()));
    }
    if let Some(code) = &query.area {
        // An agency serving a municipality serves each of its units: match the area and the
        // areas above it.
        let mut area = Some(index.find_code(code).ok_or_else(|| unknown_area("area", code))?);
        let mut chain = Vec::new();
        while let Some(a) = area {
            chain.push(index.area(a).id.clone());
            area = index.area(a).parent;
        }
        q =
            q.filter(agencies::id.eq_any(
                agency_areas::table.filter(agency_areas::area_id.eq_any(chain)).select(agency_areas::agency_id),
            ));
    }
    let mut rows: Vec<AgencyRow> = q.load(conn)?;
    // Byte order, the same on both backends (PostgreSQL collations would order codes otherwise).
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    if let Some(needle) = query.q.as_deref().map(fold).filter(|n| !n.is_empty()) {
        rows.retain(|row| {
            fold(&row.name).contains(&needle)
                || row.name_en.as_deref().is_some_and(|n| fold(n).contains(&needle))
                || fold(&row.code).contains(&needle)
        });
    }
    to_dtos(conn, rows)
}

fn unknown_area(field: &str, code: &str) -> ApiError {
    ApiError::field(field, FieldErrorCode::UnknownArea, format!("no area with code {code}"))
}

fn find_row(conn: &mut DbConnection, id: &AgencyId) -> ApiResult<AgencyRow> {
    agencies::table
        .find(id)
        .select(AgencyRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("agency"))
}

/// The id of an agency named by its code or id.
pub fn resolve_id(conn: &mut DbConnection, code_or_id: &str) -> ApiResult<AgencyId> {
    agencies::table
        .filter(agencies::code.eq(code_or_id).or(agencies::id.eq(code_or_id)))
        .select(agencies::id)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("agency"))
}

pub fn get(conn: &mut DbConnection, id: &AgencyId) -> ApiResult<Agency> {
    let row = find_row(conn, id)?;
    single(conn, row)
}

fn single(conn: &mut DbConnection, row: AgencyRow) -> ApiResult<Agency> {
    to_dtos(conn, vec![row])?.pop().ok_or_else(|| ApiError::not_found("agency"))
}

fn ensure_may_edit(actor: &AuthUser, agency_id: &AgencyId) -> ApiResult<()> {
    actor.require(Permission::AgenciesManage)?;
    if actor.is_system_admin() || actor.agency.id == *agency_id {
        Ok(())
    } else {
        Err(ApiError::forbidden("you may only edit your own agency"))
    }
}

fn check_time_zone(zone: &str, errors: &mut Vec<FieldError>) {
    if zone.parse::<chrono_tz::Tz>().is_err() {
        errors.push(FieldError {
            field: "time_zone".into(),
            code: FieldErrorCode::UnknownTimeZone,
            message: format!("{zone} is not an IANA time zone"),
        });
    }
}

fn resolve_areas(conn: &mut DbConnection, codes: &[String], errors: &mut Vec<FieldError>) -> QueryResult<Vec<String>> {
    let known: HashMap<String, String> = areas::table
        .filter(areas::code.eq_any(codes))
        .select((areas::code, areas::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut ids = BTreeSet::new();
    for (i, code) in codes.iter().enumerate() {
        match known.get(code) {
            Some(id) => {
                ids.insert(id.clone());
            }
            None => errors.push(FieldError {
                field: format!("area_codes[{i}]"),
                code: FieldErrorCode::UnknownArea,
                message: format!("no area with code {code}"),
            }),
        }
    }
    Ok(ids.into_iter().collect())
}

fn replace_areas(tx: &mut Tx<'_>, agency_id: &AgencyId, area_ids: &[String]) -> QueryResult<()> {
    diesel::delete(agency_areas::table.filter(agency_areas::agency_id.eq(agency_id))).execute(tx.conn())?;
    for area_id in area_ids {
        diesel::insert_into(agency_areas::table)
            .values((agency_areas::agency_id.eq(agency_id), agency_areas::area_id.eq(area_id)))
            .execute(tx.conn())?;
    }
    Ok(())
}

pub fn create(
    conn: &mut PooledConn,
    actor: &AuthUser,
    request: &CreateAgencyRequest,
    at: NaiveDateTime,
) -> ApiResult<Agency> {
    actor.require(Permission::AgenciesManage)?;
    if !actor.is_system_admin() {
        return Err(ApiError::forbidden("only a system administrator may create agencies"));
    }
    backend::write_transaction(conn, |tx| {
        let mut errors = Vec::new();
        if !crate::vocabularies::is_active_code(tx, "agency_type", &request.agency_type)? {
            errors.push(FieldError {
                field: "agency_type".into(),
                code: FieldErrorCode::UnknownCode,
                message: format!("{} is not in the agency_type vocabulary", request.agency_type),
            });
        }
        let time_zone = request.time_zone.clone().unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
        check_time_zone(&time_zone, &mut errors);
        let area_ids = resolve_areas(tx, &request.area_codes, &mut errors)?;
        let municipality_id = match &request.municipality_code {
            Some(code) => {
                let found: Option<String> = areas::table
                    .filter(areas::code.eq(code))
                    .filter(areas::level.eq("municipality"))
                    .select(areas::id)
                    .get_result(tx.conn())
                    .optional()?;
                if found.is_none() {
                    errors.push(FieldError {
                        field: "municipality_code".into(),
                        code: FieldErrorCode::UnknownArea,
                        message: format!("no municipality with code {code}"),
                    });
                }
                found
            }
            None => None,
        };
        let parent_id = match &request.parent_code {
            Some(code) => {
                let found: Option<String> = agencies::table
                    .filter(agencies::code.eq(code))
                    .select(agencies::id)
                    .get_result(tx.conn())
                    .optional()?;
                if found.is_none() {
                    errors.push(FieldError {
                        field: "parent_code".into(),
                        code: FieldErrorCode::UnknownAgency,
                        message: format!("no agency with code {code}"),
                    });
                }
                found
            }
            None => None,
        };
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
        let exists: i64 = agencies::table.filter(agencies::code.eq(&request.code)).count().get_result(tx.conn())?;
        if exists > 0 {
            return Err(ApiError::new(ErrorCode::AlreadyExists)
                .with_detail(format!("an agency with code {} exists", request.code)));
        }
        let id = AgencyId::generate();
        diesel::insert_into(agencies::table)
            .values((
                agencies::id.eq(&id),
                agencies::code.eq(&request.code),
                agencies::name.eq(&request.name),
                agencies::name_en.eq(&request.name_en),
                agencies::agency_type.eq(&request.agency_type),
                agencies::municipality_id.eq(municipality_id),
                agencies::parent_id.eq(parent_id),
                agencies::address.eq(&request.address),
                agencies::phone.eq(&request.phone),
                agencies::email.eq(&request.email),
                agencies::hours.eq(&request.hours),
                agencies::is_24_7.eq(request.is_24_7),
                agencies::capacity.eq(request.capacity),
                agencies::time_zone.eq(&time_zone),
                agencies::notes.eq(&request.notes),
                agencies::active.eq(true),
                agencies::version.eq(1),
                agencies::created_at.eq(at),
                agencies::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
        replace_areas(tx, &id, &area_ids)?;
        audit::record(
            tx,
            &actor.actor(),
            at,
            "agency.create",
            "agency",
            &id,
            serde_json::to_value(request).unwrap_or_default(),
        )?;
        get(tx, &id)
    })
}

/// Applies the changes if `update.version` is the current version; otherwise 412 with the
/// current agency, so the editor can merge instead of overwriting.
pub fn update(
    conn: &mut PooledConn,
    actor: &AuthUser,
    id: &AgencyId,
    update: &AgencyUpdate,
    at: NaiveDateTime,
) -> ApiResult<Agency> {
    backend::write_transaction(conn, |tx| {
        let row = find_row(tx, id)?;
        ensure_may_edit(actor, &row.id)?;
        // The areas an agency serves are its users' data scope: widening it is not the agency's
        // own decision, nor is switching it off.
        if !actor.is_system_admin() && (update.area_codes.is_some() || update.active.is_some()) {
            return Err(ApiError::forbidden(
                "only a system administrator may change the areas served or the active flag",
            ));
        }
        if update.version != row.version {
            let current = single(tx, row)?;
            return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
        }
        let mut errors = Vec::new();
        if let Some(zone) = &update.time_zone {
            check_time_zone(zone, &mut errors);
        }
        let area_ids = match &update.area_codes {
            Some(codes) if codes.is_empty() => {
                errors.push(FieldError {
                    field: "area_codes".into(),
                    code: FieldErrorCode::InvalidLength,
                    message: "an agency serves at least one area".into(),
                });
                None
            }
            Some(codes) => Some(resolve_areas(tx, codes, &mut errors)?),
            None => None,
        };
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
        let changes = AgencyChanges {
            name: update.name.clone(),
            name_en: update.name_en.clone(),
            address: update.address.clone(),
            phone: update.phone.clone(),
            email: update.email.clone(),
            hours: update.hours.clone(),
            is_24_7: update.is_24_7,
            capacity: update.capacity,
            time_zone: update.time_zone.clone(),
            notes: update.notes.clone(),
            active: update.active,
            version: row.version + 1,
            updated_at: at,
        };
        // On PostgreSQL another transaction may have committed a newer version since we read
        // the row: then nothing matches and this edit must not go on.
        let updated = diesel::update(agencies::table.find(&row.id).filter(agencies::version.eq(row.version)))
            .set(&changes)
            .execute(tx.conn())?;
        if updated != 1 {
            let current = get(tx, id)?;
            return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
        }
        if let Some(area_ids) = &area_ids {
            replace_areas(tx, &row.id, area_ids)?;
        }
        let details = serde_json::to_value(update).unwrap_or_default();
        audit::record(tx, &actor.actor(), at, "agency.update", "agency", &row.id, details)?;
        get(tx, &row.id)
    })
}

#[derive(AsChangeset)]
#[diesel(table_name = agencies)]
struct AgencyChanges {
    name: Option<String>,
    name_en: Option<Option<String>>,
    address: Option<Option<String>>,
    phone: Option<Option<String>>,
    email: Option<Option<String>>,
    hours: Option<Option<String>>,
    is_24_7: Option<bool>,
    capacity: Option<Option<i32>>,
    time_zone: Option<String>,
    notes: Option<Option<String>>,
    active: Option<bool>,
    version: i32,
    updated_at: NaiveDateTime,
}
