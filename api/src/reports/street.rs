//! The street-situation figures, counted from sightings: distinct people identified (first time or
//! seen before the period; a sighting linked to no profile is one person), by street situation,
//! by residence origin and by whether an adult was with them; children and adults apart.
//!
//! A person is their profile, or the sighting itself when it is linked to none. Their residence
//! origin is the profile's (the sighting's when unlinked); they were with an adult when any of
//! their sightings of the period says so.

use chrono::NaiveDateTime;

use super::cases::{Counts, Scope};
use super::sql::{CodeCount, Count, Statement};
use crate::db::DbConnection;

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
/// (`l`) and profile (`p`, absent when unlinked) and `join`. `from` is the statement's `$1`.
fn sightings(
    conn: &DbConnection,
    select: &str,
    join: &str,
    subject: &str,
    scope: &Scope,
    (from, to): (NaiveDateTime, NaiveDateTime),
) -> Statement {
    Statement::new(conn)
        .sql(select)
        .sql(
            " FROM identifications i \
              LEFT JOIN identification_links l ON l.identification_id = i.id \
              LEFT JOIN child_profiles p ON p.id = l.profile_id ",
        )
        .sql(join)
        .sql(" WHERE i.observed_at >= ")
        .time(from)
        .sql(" AND i.observed_at < ")
        .time(to)
        .sql(" AND i.subject_type = ")
        .text(subject)
        .within("i.municipality_id", scope)
}

const PERSON: &str = "COALESCE(l.profile_id, i.id)";

fn counts(rows: Vec<CodeCount>) -> Counts {
    rows.into_iter().fold(Counts::new(), |mut counts, row| {
        *counts.entry(row.code.unwrap_or_else(|| UNKNOWN.to_owned())).or_default() += row.n;
        counts
    })
}

/// Distinct people of `subject` identified in `scope` over `[from, to)`.
pub fn people(
    conn: &mut DbConnection,
    subject: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<i64> {
    let rows: Vec<Count> =
        sightings(conn, &format!("SELECT COUNT(DISTINCT {PERSON}) AS n"), "", subject, scope, (from, to)).load(conn)?;
    Ok(rows.first().map_or(0, |row| row.n))
}

/// Counts the street-situation tables of `subject` (`child` or `adult`).
pub fn count(
    conn: &mut DbConnection,
    subject: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<StreetTables> {
    let period = (from, to);
    let identified = sightings(
        conn,
        &format!(
            "SELECT CASE WHEN l.profile_id IS NULL THEN '{NOT_LINKED}' \
                         WHEN p.first_seen_at >= $1 THEN '{FIRST_TIME}' ELSE '{REPEAT}' END AS code, \
                    COUNT(DISTINCT {PERSON}) AS n"
        ),
        "",
        subject,
        scope,
        period,
    )
    .sql(" GROUP BY 1")
    .load(conn)?;
    // The situations are a JSON list of codes on each sighting; each code of the vocabulary
    // (retired ones too) is matched as a quoted element of it.
    let by_situation = sightings(
        conn,
        &format!("SELECT v.code AS code, COUNT(DISTINCT {PERSON}) AS n"),
        "JOIN vocabulary_entries v ON v.vocabulary = 'street_situation' \
              AND i.street_situations LIKE '%\"' || v.code || '\"%'",
        subject,
        scope,
        period,
    )
    .sql(" GROUP BY v.code")
    .load(conn)?;
    let by_residence_origin = sightings(
        conn,
        &format!(
            "SELECT COALESCE(CASE WHEN l.profile_id IS NULL THEN i.residence_origin ELSE p.residence_origin END, \
                             '{UNKNOWN}') AS code, \
                    COUNT(DISTINCT {PERSON}) AS n"
        ),
        "",
        subject,
        scope,
        period,
    )
    .sql(" GROUP BY 1")
    .load(conn)?;
    // One row per person first, then people by what their sightings said.
    let accompanied = Statement::new(conn)
        .sql("SELECT code, COUNT(*) AS n FROM (")
        .append(
            sightings(
                conn,
                &format!(
                    "SELECT CASE WHEN MAX(CASE WHEN i.accompanied_by IS NOT NULL \
                                                AND i.accompanied_by NOT IN ('alone', 'group_of_children', 'unknown') \
                                               THEN 1 ELSE 0 END) = 1 THEN '{WITH_ADULT}' \
                                 WHEN MAX(CASE WHEN i.accompanied_by IN ('alone', 'group_of_children') \
                                               THEN 1 ELSE 0 END) = 1 THEN '{WITHOUT_ADULT}' \
                                 ELSE '{NOT_RECORDED}' END AS code"
                ),
                "",
                subject,
                scope,
                period,
            )
            .sql(&format!(" GROUP BY {PERSON}")),
        )
        .sql(") people GROUP BY code")
        .load(conn)?;
    Ok(StreetTables {
        identified: counts(identified),
        by_situation: counts(by_situation),
        by_residence_origin: counts(by_residence_origin),
        accompanied: counts(accompanied),
    })
}
