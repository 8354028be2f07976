//! The national report's case tables (VKM 636/2018): protection cases new in a period by age
//! band, sex, community and who identified the child; closed by reason; managed (open at any time
//! in the period) by risk and by primary problem; protection measures taken. Counted in the
//! database by grouping queries over `protection_cases` (indexed by municipality and opening or
//! closing time), never by loading cases.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{child_profiles, protection_cases, protection_measures};

// The community table groups by the child's nationality and the case's community together.
diesel::allow_columns_to_appear_in_same_group_by_clause!(child_profiles::nationality, protection_cases::ethnicity);

/// A child's nationality and the community their case names.
type NationalityAndCommunity = (Option<String>, Option<String>);

/// Where a report counts: the whole country, or the municipalities of an area (by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    National,
    Municipalities(Vec<String>),
}

/// A table's count for each code of its breakdown; codes nothing was counted for are absent.
pub type Counts = BTreeMap<String, i64>;

/// The row of a case whose risk or primary problem has not been assessed.
pub const NOT_ASSESSED: &str = "not_assessed";
/// The community row of children of another nationality, counted apart from the communities.
pub const FOREIGN: &str = "foreign";
/// The community row of a case that names none.
pub const NOT_STATED: &str = "not_stated";
const ALBANIA: &str = "AL";

/// The case tables of one period and scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseTables {
    pub new_by_age_band: Counts,
    pub new_by_sex: Counts,
    pub new_by_community: Counts,
    pub new_by_identifier: Counts,
    pub closed_by_reason: Counts,
    pub managed_by_risk: Counts,
    pub managed_by_problem: Counts,
    pub measures_by_type: Counts,
}

impl CaseTables {
    pub fn new_cases(&self) -> i64 {
        self.new_by_age_band.values().sum()
    }

    pub fn closed_cases(&self) -> i64 {
        self.closed_by_reason.values().sum()
    }

    pub fn managed_cases(&self) -> i64 {
        self.managed_by_risk.values().sum()
    }
}

/// Groups `$query` by `$key` within `$scope` and loads `(key, count)` rows of type `$row`.
macro_rules! grouped {
    ($conn:expr, $scope:expr, $query:expr, $key:expr, $row:ty) => {{
        let query = $query.group_by($key).select(($key, count_star()));
        let rows: Vec<$row> = match $scope {
            Scope::National => query.load($conn)?,
            Scope::Municipalities(ids) => query.filter(protection_cases::municipality_id.eq_any(ids)).load($conn)?,
        };
        rows
    }};
}

/// Counts the case tables of the cases in `scope` over `[from, to)`.
pub fn count(
    conn: &mut DbConnection,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<CaseTables> {
    let opened = protection_cases::opened_at.ge(from).and(protection_cases::opened_at.lt(to));
    let closed = protection_cases::closed_at.ge(from).and(protection_cases::closed_at.lt(to));
    let managed = protection_cases::opened_at
        .lt(to)
        .and(protection_cases::closed_at.is_null().or(protection_cases::closed_at.ge(from)));
    let new_cases = || protection_cases::table.filter(opened);
    let known = |rows: Vec<(String, i64)>| rows.into_iter().collect::<Counts>();
    let assessed = |rows: Vec<(Option<String>, i64)>| {
        rows.into_iter().fold(Counts::new(), |mut counts, (code, n)| {
            *counts.entry(code.unwrap_or_else(|| NOT_ASSESSED.to_owned())).or_default() += n;
            counts
        })
    };

    let new_by_age_band = known(grouped!(conn, scope, new_cases(), protection_cases::age_band, (String, i64)));
    let new_by_identifier = known(grouped!(conn, scope, new_cases(), protection_cases::identified_by, (String, i64)));
    let new_by_sex =
        known(grouped!(conn, scope, new_cases().inner_join(child_profiles::table), child_profiles::sex, (String, i64)));
    let by_origin: Vec<(NationalityAndCommunity, i64)> = {
        let query = new_cases()
            .inner_join(child_profiles::table)
            .group_by((child_profiles::nationality, protection_cases::ethnicity))
            .select(((child_profiles::nationality, protection_cases::ethnicity), count_star()));
        match scope {
            Scope::National => query.load(conn)?,
            Scope::Municipalities(ids) => query.filter(protection_cases::municipality_id.eq_any(ids)).load(conn)?,
        }
    };
    let mut new_by_community = Counts::new();
    for ((nationality, ethnicity), n) in by_origin {
        let row = match (nationality.as_deref(), ethnicity) {
            (Some(nationality), _) if nationality != ALBANIA => FOREIGN.to_owned(),
            (_, Some(ethnicity)) => ethnicity,
            (_, None) => NOT_STATED.to_owned(),
        };
        *new_by_community.entry(row).or_default() += n;
    }
    let closed_by_reason = assessed(grouped!(
        conn,
        scope,
        protection_cases::table.filter(closed),
        protection_cases::closure_reason,
        (Option<String>, i64)
    ));
    let managed_by_risk = assessed(grouped!(
        conn,
        scope,
        protection_cases::table.filter(managed),
        protection_cases::risk_level,
        (Option<String>, i64)
    ));
    let managed_by_problem = assessed(grouped!(
        conn,
        scope,
        protection_cases::table.filter(managed),
        protection_cases::primary_problem,
        (Option<String>, i64)
    ));
    let measures_by_type = known(grouped!(
        conn,
        scope,
        protection_measures::table
            .inner_join(protection_cases::table)
            .filter(protection_measures::taken_at.ge(from))
            .filter(protection_measures::taken_at.lt(to)),
        protection_measures::measure,
        (String, i64)
    ));
    Ok(CaseTables {
        new_by_age_band,
        new_by_sex,
        new_by_community,
        new_by_identifier,
        closed_by_reason,
        managed_by_risk,
        managed_by_problem,
        measures_by_type,
    })
}
