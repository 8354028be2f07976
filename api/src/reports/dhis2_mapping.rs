//! The mapping from Terren's report codes to DHIS2 ids: which data element and category option
//! combination each report table's row (or its `total`) goes to, which organisation unit each
//! area is, and the data set, if any. System administrators read it and replace it whole, at the
//! version they read; each replacement is audited.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::areas::AreaLevel;
use terren_contract::exports::{Dhis2CellMapping, Dhis2Mapping, Dhis2OrgUnitMapping, PutDhis2Mapping, is_dhis2_uid};
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::reports::ReportTableId;

use super::export::table_key;
use super::service::NATIONAL;
use crate::access::AuthUser;
use crate::access::reports::may_manage_dhis2_mapping;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{dhis2_cell_mappings, dhis2_mapping, dhis2_org_units};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::territory::index::TerritoryIndex;

/// The key of the mapping's one row.
const KEY: &str = "dhis2";

/// The mapping as stored (version 0 and empty while there is none), for the export.
pub fn load(conn: &mut DbConnection) -> QueryResult<Dhis2Mapping> {
    let head: Option<(Option<String>, i32, NaiveDateTime)> = dhis2_mapping::table
        .find(KEY)
        .select((dhis2_mapping::data_set, dhis2_mapping::version, dhis2_mapping::updated_at))
        .get_result(conn)
        .optional()?;
    let cells: Vec<(String, String, String, String)> = dhis2_cell_mappings::table
        .order((dhis2_cell_mappings::table_id, dhis2_cell_mappings::row_code))
        .select((
            dhis2_cell_mappings::table_id,
            dhis2_cell_mappings::row_code,
            dhis2_cell_mappings::data_element,
            dhis2_cell_mappings::category_option_combo,
        ))
        .load(conn)?;
    let org_units: Vec<(String, String)> = dhis2_org_units::table
        .order(dhis2_org_units::area_code)
        .select((dhis2_org_units::area_code, dhis2_org_units::org_unit))
        .load(conn)?;
    let (data_set, version, updated_at) = match head {
        Some((data_set, version, at)) => (data_set, version, Some(to_utc(at))),
        None => (None, 0, None),
    };
    Ok(Dhis2Mapping {
        data_set,
        cells: cells
            .into_iter()
            // A table the reports no longer have maps nothing.
            .filter_map(|(table, row, data_element, category_option_combo)| {
                let table: ReportTableId = serde_json::from_value(serde_json::Value::String(table)).ok()?;
                Some(Dhis2CellMapping { table, row, data_element, category_option_combo })
            })
            .collect(),
        org_units: org_units.into_iter().map(|(area, org_unit)| Dhis2OrgUnitMapping { area, org_unit }).collect(),
        version,
        updated_at,
    })
}

/// The mapping, for a system administrator.
pub fn get(conn: &mut DbConnection, user: &AuthUser) -> ApiResult<Dhis2Mapping> {
    may_manage_dhis2_mapping(user)?;
    Ok(load(conn)?)
}

/// Replaces the whole mapping (system administrators), at the version read.
pub fn put(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &PutDhis2Mapping,
    at: NaiveDateTime,
) -> ApiResult<Dhis2Mapping> {
    may_manage_dhis2_mapping(user)?;
    let org_units = check(index, request)?;
    let current = load(tx.conn())?;
    let stale = || -> ApiResult<Dhis2Mapping> {
        Err(ApiError::version_mismatch(serde_json::to_value(&current).map_err(anyhow::Error::from)?))
    };
    if request.version != current.version {
        return stale();
    }
    let data_set = request.data_set.as_deref();
    let claimed = if current.version == 0 {
        diesel::insert_into(dhis2_mapping::table)
            .values((
                dhis2_mapping::id.eq(KEY),
                dhis2_mapping::data_set.eq(data_set),
                dhis2_mapping::version.eq(1),
                dhis2_mapping::updated_by.eq(&user.user_id),
                dhis2_mapping::updated_at.eq(at),
            ))
            .execute(tx.conn())?
    } else {
        diesel::update(dhis2_mapping::table.find(KEY).filter(dhis2_mapping::version.eq(current.version)))
            .set((
                dhis2_mapping::data_set.eq(data_set),
                dhis2_mapping::version.eq(current.version + 1),
                dhis2_mapping::updated_by.eq(&user.user_id),
                dhis2_mapping::updated_at.eq(at),
            ))
            .execute(tx.conn())?
    };
    if claimed == 0 {
        return stale();
    }
    diesel::delete(dhis2_cell_mappings::table).execute(tx.conn())?;
    diesel::delete(dhis2_org_units::table).execute(tx.conn())?;
    for cell in &request.cells {
        diesel::insert_into(dhis2_cell_mappings::table)
            .values((
                dhis2_cell_mappings::table_id.eq(table_key(cell.table)),
                dhis2_cell_mappings::row_code.eq(cell.row.trim()),
                dhis2_cell_mappings::data_element.eq(&cell.data_element),
                dhis2_cell_mappings::category_option_combo.eq(&cell.category_option_combo),
            ))
            .execute(tx.conn())?;
    }
    for (area, org_unit) in &org_units {
        diesel::insert_into(dhis2_org_units::table)
            .values((dhis2_org_units::area_code.eq(area), dhis2_org_units::org_unit.eq(org_unit)))
            .execute(tx.conn())?;
    }
    let saved = load(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "dhis2_mapping.put",
        "dhis2_mapping",
        KEY,
        json!({
            "version": saved.version,
            "data_set": saved.data_set,
            "cells": saved.cells.len(),
            "org_units": saved.org_units.len(),
        }),
    )?;
    Ok(saved)
}

/// Checks what the contract's rules cannot say: uids made of the right characters, one entry per
/// cell and per area, areas that exist and are reported for. Gives the org units with each
/// area's code as the territory writes it.
fn check(index: &TerritoryIndex, request: &PutDhis2Mapping) -> ApiResult<Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut uid = |field: String, text: &str| {
        if !is_dhis2_uid(text) {
            errors.push(FieldError::new(
                field,
                FieldErrorCode::NotDhisUid,
                "a DHIS2 uid: a letter, then 10 letters or digits",
            ));
        }
    };
    if let Some(data_set) = &request.data_set {
        uid("data_set".into(), data_set);
    }
    for (i, cell) in request.cells.iter().enumerate() {
        uid(format!("cells[{i}].data_element"), &cell.data_element);
        uid(format!("cells[{i}].category_option_combo"), &cell.category_option_combo);
    }
    for (i, unit) in request.org_units.iter().enumerate() {
        uid(format!("org_units[{i}].org_unit"), &unit.org_unit);
    }
    let mut seen = HashSet::new();
    for (i, cell) in request.cells.iter().enumerate() {
        if cell.row.trim().is_empty() {
            errors.push(FieldError::new(format!("cells[{i}].row"), FieldErrorCode::Blank, "a row's code, or total"));
        } else if !seen.insert((cell.table, cell.row.trim())) {
            errors.push(FieldError::new(
                format!("cells[{i}]"),
                FieldErrorCode::DuplicateEntry,
                "this table's row is mapped above already",
            ));
        }
    }
    let mut org_units = Vec::new();
    let mut areas = HashSet::new();
    for (i, unit) in request.org_units.iter().enumerate() {
        let field = format!("org_units[{i}].area");
        let code = unit.area.trim();
        let canonical = if code.eq_ignore_ascii_case(NATIONAL) {
            Some(NATIONAL.to_owned())
        } else {
            match index.find_code(code).or_else(|| index.find_code(&code.to_ascii_uppercase())).map(|a| index.area(a)) {
                Some(area) if area.level != AreaLevel::AdminUnit => Some(area.code.clone()),
                Some(_) => {
                    errors.push(FieldError::new(
                        &field,
                        FieldErrorCode::InvalidValue,
                        "reports are made for a municipality, a county or the country",
                    ));
                    None
                }
                None => {
                    errors.push(FieldError::new(
                        &field,
                        FieldErrorCode::UnknownArea,
                        format!("no area has the code {code}"),
                    ));
                    None
                }
            }
        };
        if let Some(canonical) = canonical {
            if areas.insert(canonical.clone()) {
                org_units.push((canonical, unit.org_unit.clone()));
            } else {
                errors.push(FieldError::new(
                    &field,
                    FieldErrorCode::DuplicateEntry,
                    "this area is mapped above already",
                ));
            }
        }
    }
    if errors.is_empty() { Ok(org_units) } else { Err(ApiError::fields(errors)) }
}
