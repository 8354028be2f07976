//! The street-situation figures, counted from sightings: distinct people identified (first time or
//! seen before the period; a sighting linked to no profile is one person), by street situation,
//! by residence origin and by whether an adult was with them; children and adults apart.
//!
//! A person is their profile, or the sighting itself when it is linked to none. Their residence
//! origin is the profile's (the sighting's when unlinked); they were with an adult when any of
//! their sightings of the period says so.

use chrono::NaiveDateTime;

use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::cases::{Counts, Scope};
use super::sql::{Count, Statement};
use crate::db::DbConnection;
use crate::db::schema::vocabulary_entries;

/// The row of people linked to no profile (each sighting counted as one person).
pub const NOT_LINKED: &str = "not_linked";
pub const FIRST_TIME: &str = "first_time";
pub const REPEAT: &str = "repeat";
pub const WITH_ADULT: &str = "with_adult";
pub const WITHOUT_ADULT: &str = "without_adult";
pub const NOT_RECORDED: &str = "not_recorded";
const UNKNOWN: &str = "unknown";

/// The street-situation tables of one subject type (`child` or `adult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreetTables {
    /// `first_time`, `repeat`, `not_linked`.
    pub identified: Counts,
    /// Distinct people seen in each situation; a person may be in several.
    pub by_situation: Counts,
    pub by_residence_origin: Counts,
    /// `with_adult`, `without_adult`, `not_recorded`.
    pub accompanied: Counts,
}

impl StreetTables {
    /// Distinct people identified in the period.
    pub fn people(&self) -> i64 {
        self.identified.values().sum()
    }

    /// Of the people linked to a profile, those seen before the period began.
    pub fn repeat(&self) -> i64 {
        self.identified.get(REPEAT).copied().unwrap_or(0)
    }

    pub fn linked(&self) -> i64 {
        self.repeat() + self.identified.get(FIRST_TIME).copied().unwrap_or(0)
    }
}

/// `select` over the sightings (`i`) of `subject` in `scope` over `[from, to)`, with their link
/// (`l`, absent when unlinked).
fn sightings(
    conn: &DbConnection,
    select: &str,
    subject: &str,
    scope: &Scope,
    (from, to): (NaiveDateTime, NaiveDateTime),
) -> Statement {
    Statement::new(conn)
        .sql(select)
        .sql(
            " FROM identifications i \
              LEFT JOIN identification_links l ON l.identification_id = i.id \
              WHERE i.observed_at >= ",
        )
        .time(from)
        .sql(" AND i.observed_at < ")
        .time(to)
        .sql(" AND i.subject_type = ")
        .text(subject)
        .within("i.municipality_id", scope)
}

const PERSON: &str = "COALESCE(l.profile_id, i.id)";

/// Distinct people of `subject` identified in `scope` over `[from, to)`.
pub fn people(
    conn: &mut DbConnection,
    subject: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<i64> {
    let rows: Vec<Count> =
        sightings(conn, &format!("SELECT COUNT(DISTINCT {PERSON}) AS n"), subject, scope, (from, to)).load(conn)?;
    Ok(rows.first().map_or(0, |row| row.n))
}

#[derive(QueryableByName)]
struct PeopleGroup {
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    identified: String,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Text)]
    accompanied: String,
    /// Bit `k` set: seen in the `k`th street situation.
    #[diesel(sql_type = BigInt)]
    situations: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The street query: one row per person of the period (by `scope`, `[from, to)`), then people
/// grouped by subject, first time or not, residence origin, with an adult or not, and a bit per
/// code of `situations` they were seen in.
pub fn people_statement(
    conn: &DbConnection,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
    situations: &[String],
) -> Statement {
    // `from` is the statement's `$1`: bound where it is first used, named again after.
    let mut person = Statement::new(conn)
        .sql(&format!(
            "SELECT MAX(i.subject_type) AS subject, \
                    CASE WHEN MAX(l.profile_id) IS NULL THEN '{NOT_LINKED}' WHEN MIN(p.first_seen_at) >= "
        ))
        .time(from)
        .sql(&format!(
            " THEN '{FIRST_TIME}' ELSE '{REPEAT}' END AS identified, \
                COALESCE(MAX(CASE WHEN l.profile_id IS NULL THEN i.residence_origin ELSE p.residence_origin END), \
                         '{UNKNOWN}') AS origin, \
                CASE WHEN MAX(CASE WHEN i.accompanied_by IS NOT NULL \
                                    AND i.accompanied_by NOT IN ('alone', 'group_of_children', 'unknown') \
                                   THEN 1 ELSE 0 END) = 1 THEN '{WITH_ADULT}' \
                     WHEN MAX(CASE WHEN i.accompanied_by IN ('alone', 'group_of_children') THEN 1 ELSE 0 END) = 1 \
                          THEN '{WITHOUT_ADULT}' \
                     ELSE '{NOT_RECORDED}' END AS accompanied, \
                CAST(0"
        ));
    // The situations are a JSON list of codes on each sighting: each code is matched as a quoted
    // element of it.
    for (bit, code) in situations.iter().enumerate() {
        person = person
            .sql(" + MAX(CASE WHEN i.street_situations LIKE ")
            .text(&format!("%\"{code}\"%"))
            .sql(&format!(" THEN {} ELSE 0 END)", 1_i64 << bit));
    }
    let person = person
        .sql(
            " AS BIGINT) AS situations \
             FROM identifications i \
             LEFT JOIN identification_links l ON l.identification_id = i.id \
             LEFT JOIN child_profiles p ON p.id = l.profile_id \
             WHERE i.observed_at >= $1 AND i.observed_at < ",
        )
        .time(to)
        .sql(" AND i.subject_type IN ('child', 'adult')")
        .within("i.municipality_id", scope)
        .sql(&format!(" GROUP BY {PERSON}, i.subject_type"));
    Statement::new(conn)
        .sql("SELECT subject, identified, origin, accompanied, situations, COUNT(*) AS n FROM (")
        .append(person)
        .sql(") people GROUP BY subject, identified, origin, accompanied, situations")
}

/// The street-situation tables of children and of adults, counted in one pass over the period's
/// sightings: one row per person first (what they were, where from, with an adult or not, a bit
/// per situation they were seen in), then people grouped by all of it at once, so the database
/// returns a few hundred groups whatever the number of sightings.
pub fn count_both(
    conn: &mut DbConnection,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<(StreetTables, StreetTables)> {
    // Every code the vocabulary ever had (retired ones too), in a fixed order.
    let situations: Vec<String> = vocabulary_entries::table
        .filter(vocabulary_entries::vocabulary.eq("street_situation"))
        .order(vocabulary_entries::code)
        .select(vocabulary_entries::code)
        .limit(62)
        .load(conn)?;
    let groups: Vec<PeopleGroup> = people_statement(conn, scope, from, to, &situations).load(conn)?;
    let (mut children, mut adults) = (StreetTables::default(), StreetTables::default());
    for group in groups {
        let tables = if group.subject == "adult" { &mut adults } else { &mut children };
        *tables.identified.entry(group.identified).or_default() += group.n;
        *tables.by_residence_origin.entry(group.origin).or_default() += group.n;
        *tables.accompanied.entry(group.accompanied).or_default() += group.n;
        for (bit, code) in situations.iter().enumerate() {
            if group.situations & (1_i64 << bit) != 0 {
                *tables.by_situation.entry(code.clone()).or_default() += group.n;
            }
        }
    }
    Ok((children, adults))
}

/// Counts the street-situation tables of `subject` (`child` or `adult`).
pub fn count(
    conn: &mut DbConnection,
    subject: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<StreetTables> {
    let (children, adults) = count_both(conn, scope, from, to)?;
    Ok(if subject == "adult" { adults } else { children })
}
