//! The referral and response figures. A referral is a chain (a referral and the forwards it went
//! through), counted in the period it was made, in the municipality it was made for: by priority,
//! by the type of the agency it was sent to, and by where it ended (the outcome of its last link,
//! `declined`, `cancelled`, or `open` while someone still works it). Deadlines and response times
//! are per link, since each receiving unit is measured on its own.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::Double;
use terren_contract::referrals::DeadlineKind;

use super::cases::{Counts, Scope};
use super::sql::{CodeCount, Count, Statement};
use crate::db::DbConnection;
use crate::vocabularies::wire_code;

pub const OPEN: &str = "open";
pub const CANCELLED: &str = "cancelled";
pub const DECLINED: &str = "declined";
pub const MET: &str = "met";
pub const BREACHED: &str = "breached";

/// The referral tables of one subject type (`child` or `adult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralTables {
    pub by_priority: Counts,
    /// By the type of the agency the referral was first sent to.
    pub by_receiving_agency: Counts,
    /// By where the chain ended.
    pub by_outcome: Counts,
}

/// Deadlines met and breached and response times, over every link sent in the period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseFigures {
    /// `{kind}_met`, `{kind}_breached`.
    pub deadlines: Counts,
    pub acknowledge: Minutes,
    pub first_contact: Minutes,
}

/// Minutes from sending to an act, over the links where it happened.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Minutes {
    /// Links measured.
    pub count: i64,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

/// `select` over chains (`f` the first link, `r` the last, `a` the agency `f` went to) made in
/// `[from, to)` for `subject` in `scope`.
fn chains(
    conn: &DbConnection,
    select: &str,
    subject: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Statement {
    Statement::new(conn)
        .sql(select)
        .sql(
            " FROM referrals r JOIN referrals f ON f.id = r.chain_id \
              JOIN agencies a ON a.id = f.to_agency_id \
              WHERE r.forwarded_to IS NULL AND COALESCE(f.made_at, f.sent_at) >= ",
        )
        .time(from)
        .sql(" AND COALESCE(f.made_at, f.sent_at) < ")
        .time(to)
        .sql(" AND f.subject_type = ")
        .text(subject)
        .within("f.municipality_id", scope)
}

fn counts(rows: Vec<CodeCount>) -> Counts {
    rows.into_iter().filter_map(|row| Some((row.code?, row.n))).collect()
}

/// Counts the referral tables of `subject`.
pub fn count(
    conn: &mut DbConnection,
    subject: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<ReferralTables> {
    let grouped = |conn: &mut DbConnection, key: &str| {
        chains(conn, &format!("SELECT {key} AS code, COUNT(*) AS n"), subject, scope, from, to)
            .sql(" GROUP BY 1")
            .load::<CodeCount>(conn)
            .map(counts)
    };
    Ok(ReferralTables {
        by_priority: grouped(conn, "f.priority")?,
        by_receiving_agency: grouped(conn, "a.agency_type")?,
        by_outcome: grouped(
            conn,
            &format!(
                "CASE r.status WHEN 'closed' THEN r.outcome WHEN 'declined' THEN '{DECLINED}' \
                               WHEN 'cancelled' THEN '{CANCELLED}' ELSE '{OPEN}' END"
            ),
        )?,
    })
}

/// `select` over links (`r`) sent in `[from, to)` in `scope`.
fn links(conn: &DbConnection, select: &str, scope: &Scope, from: NaiveDateTime, to: NaiveDateTime) -> Statement {
    Statement::new(conn)
        .sql(select)
        .sql(" FROM referrals r WHERE r.sent_at >= ")
        .time(from)
        .sql(" AND r.sent_at < ")
        .time(to)
        .within("r.municipality_id", scope)
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Double)]
    minutes: f64,
}

/// The value at rank `ceil(share × count)` of `minutes` over the links where `done` is set.
fn percentile(
    conn: &mut DbConnection,
    done: &str,
    count: i64,
    share: f64,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<Option<f64>> {
    if count == 0 {
        return Ok(None);
    }
    // Nearest rank, 1-based: the smallest value with at least `share` of the values at or below it.
    let rank = ((share * count as f64).ceil() as i64).clamp(1, count);
    let rows: Vec<Value> = Statement::new(conn)
        .sql("SELECT ")
        .minutes_between("r.sent_at", done)
        .sql(" AS minutes")
        .append(links(conn, "", scope, from, to))
        .sql(&format!(" AND {done} IS NOT NULL ORDER BY 1 LIMIT 1 OFFSET {}", rank - 1))
        .load(conn)?;
    Ok(rows.first().map(|row| row.minutes.max(0.0)))
}

fn minutes(
    conn: &mut DbConnection,
    done: &str,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<Minutes> {
    let count = links(conn, &format!("SELECT COUNT({done}) AS n"), scope, from, to)
        .load::<Count>(conn)?
        .first()
        .map_or(0, |row| row.n);
    Ok(Minutes {
        count,
        median: percentile(conn, done, count, 0.5, scope, from, to)?,
        p90: percentile(conn, done, count, 0.9, scope, from, to)?,
    })
}

/// Counts deadlines met and breached, and the response times, of links sent in the period.
pub fn response(
    conn: &mut DbConnection,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> diesel::QueryResult<ResponseFigures> {
    let rows: Vec<CodeCount> = Statement::new(conn)
        .sql(&format!(
            "SELECT d.kind || CASE WHEN d.breached_at IS NOT NULL THEN '_{BREACHED}' ELSE '_{MET}' END AS code, \
                    COUNT(*) AS n FROM referral_deadlines d JOIN referrals r ON r.id = d.referral_id \
             WHERE (d.met_at IS NOT NULL OR d.breached_at IS NOT NULL) AND r.sent_at >= "
        ))
        .time(from)
        .sql(" AND r.sent_at < ")
        .time(to)
        .within("r.municipality_id", scope)
        .sql(" GROUP BY 1")
        .load(conn)?;
    Ok(ResponseFigures {
        deadlines: counts(rows),
        acknowledge: minutes(conn, "r.acknowledged_at", scope, from, to)?,
        first_contact: minutes(conn, "r.contacted_at", scope, from, to)?,
    })
}

/// The deadline rows in order: each kind met, then breached.
pub fn deadline_rows() -> Vec<(String, DeadlineKind, &'static str)> {
    DeadlineKind::ALL
        .iter()
        .flat_map(|&kind| [MET, BREACHED].map(|state| (format!("{}_{state}", wire_code(kind)), kind, state)))
        .collect()
}
