//! A report for an area and a period as its reader may see it: the tables counted, labelled in
//! both languages, small numbers hidden from readers of aggregates only, the reading audited.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::areas::AreaLevel;
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::referrals::DeadlineKind;
use terren_contract::reports::{
    Labels, Report, ReportArea, ReportPeriod, ReportQuery, ReportRow, ReportTable, ReportTableId, ReportUnit,
    ReportValue,
};

use super::cases::{self, CaseTables, Counts, FOREIGN, NOT_ASSESSED, Scope};
use super::period::{Period, tirana_day};
use super::plan::{self, PlanFigures};
use super::referrals::{self, ReferralTables, ResponseFigures};
use super::street::{self, StreetTables};
use super::suppress::{self, Shown};
use crate::access::AuthUser;
use crate::access::reports::{ReportReach, check_report_area, report_reach};
use crate::audit;
use crate::clock::to_utc;
use crate::db::Tx;
use crate::db::schema::{agencies, vocabulary_entries};
use crate::http::{ApiError, ApiResult};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::{parse_wire_code, wire_code};

/// The code that names the whole country.
pub const NATIONAL: &str = "AL";

/// The tables asked for by id (comma-separated), or all of them.
fn wanted_tables(tables: Option<&str>) -> ApiResult<Option<Vec<ReportTableId>>> {
    let Some(tables) = tables else { return Ok(None) };
    let mut wanted = Vec::new();
    for id in tables.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let id = parse_wire_code::<ReportTableId>(id).map_err(|_| {
            ApiError::fields(vec![FieldError::new(
                "tables",
                FieldErrorCode::UnknownTable,
                format!("no report table is called {id}"),
            )])
        })?;
        wanted.push(id);
    }
    Ok(Some(wanted))
}

/// What a report covers: the area as reports name it, and the municipalities counted.
pub struct Covered {
    pub area: ReportArea,
    pub scope: Scope,
    /// The municipalities, by index (none for the whole country).
    municipalities: Option<Vec<usize>>,
}

impl Covered {
    /// The municipalities, by index; none for the whole country.
    pub fn municipalities(&self) -> Option<&[usize]> {
        self.municipalities.as_deref()
    }
}

/// A report counted for an area and a period, ready to be shown exactly or with small numbers
/// hidden.
pub struct Counted {
    pub area: ReportArea,
    pub period: Period,
    pub at: NaiveDateTime,
    laid: Vec<Laid>,
}

impl Counted {
    /// The report as a reader sees it: exact, or with small numbers hidden.
    pub fn shown(&self, exact: bool) -> Report {
        Report {
            area: self.area.clone(),
            period: ReportPeriod {
                label: self.period.label.clone(),
                first_day: self.period.first_day,
                last_day: self.period.last_day,
            },
            generated_at: to_utc(self.at),
            small_numbers_hidden: !exact,
            tables: lay_out(&self.laid, exact),
        }
    }
}

/// Reads a period for a report made at `at`: it must have begun.
pub fn period_of(field: &str, text: &str, at: NaiveDateTime) -> ApiResult<Period> {
    Period::parse(field, text)
        .and_then(|period| period.check_begun(field, tirana_day(at)).map(|()| period))
        .map_err(|e| ApiError::fields(vec![e]))
}

pub fn report(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportQuery,
    at: NaiveDateTime,
) -> ApiResult<Report> {
    counted(tx, index, user, query, at, None)
}

/// The same report as [`report`], audited as exported in `format` (`report.export`).
pub fn export(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportQuery,
    at: NaiveDateTime,
    format: &str,
) -> ApiResult<Report> {
    counted(tx, index, user, query, at, Some(format))
}

fn counted(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportQuery,
    at: NaiveDateTime,
    exported_as: Option<&str>,
) -> ApiResult<Report> {
    let reach = report_reach(user)?;
    let period = period_of("period", &query.period, at)?;
    let wanted = wanted_tables(query.tables.as_deref())?;
    let covered = covered_for(tx, index, user, reach, query.area.as_deref())?;
    let counted = count(tx, covered, period, query.baseline.as_deref(), at)?;
    let mut report = counted.shown(reach.exact);
    if let Some(wanted) = wanted {
        report.tables.retain(|table| wanted.contains(&table.id));
    }
    let mut details = serde_json::json!({
        "area": report.area.code, "period": report.period.label, "small_numbers_hidden": !reach.exact
    });
    if let Some(format) = exported_as {
        details["format"] = format.into();
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        if exported_as.is_some() { "report.export" } else { "report.read" },
        "report",
        &format!("{}:{}", report.area.code, report.period.label),
        details,
    )?;
    Ok(report)
}

/// Counts every table of a report.
pub fn count(
    tx: &mut Tx<'_>,
    covered: Covered,
    period: Period,
    baseline: Option<&str>,
    at: NaiveDateTime,
) -> ApiResult<Counted> {
    let (from, to) = period.bounds();
    let scope = &covered.scope;
    let labels = Vocabularies::load(tx)?;
    let mut laid = case_tables(&cases::count(tx, scope, from, to)?, &labels);
    let (children, adults): (StreetTables, StreetTables) = street::count_both(tx.conn(), scope, from, to)?;
    laid.extend(street_tables(true, &children, &labels));
    laid.extend(street_tables(false, &adults, &labels));
    for (children, subject) in [(true, "child"), (false, "adult")] {
        let counts: ReferralTables = referrals::count(tx.conn(), subject, scope, from, to)?;
        laid.extend(referral_tables(children, &counts, &labels));
    }
    laid.extend(response_tables(&referrals::response(tx.conn(), scope, from, to)?));
    let baseline = plan::baseline_for(tx.conn(), scope, &period, baseline, tirana_day(at))?;
    laid.extend(plan_tables(&plan::count(tx.conn(), scope, &period, baseline, &children)?));
    Ok(Counted { area: covered.area, period, at, laid })
}

/// The area a reader asks for (by default their agency's municipality, or the country for
/// national readers), refused when outside their reach.
pub fn covered_for(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    reach: ReportReach,
    area: Option<&str>,
) -> ApiResult<Covered> {
    let code = match area {
        Some(code) => code.trim().to_owned(),
        None if reach.national => NATIONAL.to_owned(),
        None => {
            let municipality: Option<String> =
                agencies::table.find(&user.agency.id).select(agencies::municipality_id).get_result(tx.conn())?;
            let at = municipality.as_deref().and_then(|id| index.find_id(id)).ok_or_else(|| {
                ApiError::fields(vec![FieldError::new(
                    "area",
                    FieldErrorCode::Required,
                    "your agency has no municipality: name the area",
                )])
            })?;
            index.area(at).code.clone()
        }
    };
    let covered = covered(index, &code)?;
    check_report_area(index, user, reach, covered.municipalities.as_deref())?;
    Ok(covered)
}

/// The area a report names by its code: a municipality, a county, or `AL` for the country.
pub fn covered(index: &TerritoryIndex, code: &str) -> ApiResult<Covered> {
    if code.eq_ignore_ascii_case(NATIONAL) {
        let area = ReportArea { code: NATIONAL.into(), name: "Shqipëri".into(), level: "country".into() };
        return Ok(Covered { area, scope: Scope::National, municipalities: None });
    }
    let Some(at) = index.find_code(code) else {
        return Err(ApiError::fields(vec![FieldError::new(
            "area",
            FieldErrorCode::UnknownArea,
            format!("no area has the code {code}"),
        )]));
    };
    let found = index.area(at);
    let (municipalities, level) = match found.level {
        AreaLevel::Municipality => (vec![at], "municipality"),
        AreaLevel::County => (
            index.descendants(at).into_iter().filter(|&a| index.area(a).level == AreaLevel::Municipality).collect(),
            "county",
        ),
        AreaLevel::AdminUnit => {
            return Err(ApiError::fields(vec![FieldError::new(
                "area",
                FieldErrorCode::InvalidValue,
                "reports are made for a municipality, a county or the country",
            )]));
        }
    };
    Ok(Covered {
        area: ReportArea { code: found.code.clone(), name: found.name.clone(), level: level.into() },
        scope: Scope::Municipalities(municipalities.iter().map(|&m| index.area(m).id.clone()).collect()),
        municipalities: Some(municipalities),
    })
}

/// The labels of the vocabularies a report's rows come from, in their order.
struct Vocabularies(HashMap<String, Vec<(String, Labels)>>);

impl Vocabularies {
    fn load(tx: &mut Tx<'_>) -> ApiResult<Vocabularies> {
        let rows: Vec<(String, String, String, String)> = vocabulary_entries::table
            .filter(vocabulary_entries::active.eq(true))
            .order((vocabulary_entries::vocabulary, vocabulary_entries::sort_order, vocabulary_entries::code))
            .select((
                vocabulary_entries::vocabulary,
                vocabulary_entries::code,
                vocabulary_entries::label_sq,
                vocabulary_entries::label_en,
            ))
            .load(tx.conn())?;
        let mut by_name: HashMap<String, Vec<(String, Labels)>> = HashMap::new();
        for (vocabulary, code, sq, en) in rows {
            by_name.entry(vocabulary).or_default().push((code, Labels { sq, en }));
        }
        Ok(Vocabularies(by_name))
    }

    /// Every code of a vocabulary in its order, then `extra` codes, then codes counted that the
    /// vocabulary no longer lists (labelled by their code).
    fn rows(&self, vocabulary: &str, extra: &[(&str, &str, &str)], counts: &Counts) -> Vec<(String, Labels)> {
        let mut rows: Vec<(String, Labels)> = self.0.get(vocabulary).cloned().unwrap_or_default();
        for &(code, sq, en) in extra {
            if !rows.iter().any(|(c, _)| c == code) {
                rows.push((code.to_owned(), Labels { sq: sq.into(), en: en.into() }));
            }
        }
        for code in counts.keys() {
            if !rows.iter().any(|(c, _)| c == code) {
                rows.push((code.clone(), Labels { sq: code.clone(), en: code.clone() }));
            }
        }
        rows
    }
}

const NOT_ASSESSED_ROW: (&str, &str, &str) = (NOT_ASSESSED, "Pa vlerësuar", "Not assessed");
const FOREIGN_ROW: (&str, &str, &str) = (FOREIGN, "Të huaj", "Foreign");
const IDENTIFIED_ROWS: [(&str, &str, &str); 3] = [
    (street::FIRST_TIME, "Identifikuar për herë të parë", "Identified for the first time"),
    (street::REPEAT, "Identifikuar më parë", "Identified before"),
    (street::NOT_LINKED, "Pa profil", "Not linked to a profile"),
];
const ACCOMPANIED_ROWS: [(&str, &str, &str); 3] = [
    (street::WITH_ADULT, "Me një të rritur", "With an adult"),
    (street::WITHOUT_ADULT, "Pa të rritur", "Without an adult"),
    (street::NOT_RECORDED, "Pa të dhëna", "Not recorded"),
];
const CHAIN_END_ROWS: [(&str, &str, &str); 3] = [
    (referrals::OPEN, "Në proces", "Still open"),
    (referrals::DECLINED, "Refuzuar", "Declined"),
    (referrals::CANCELLED, "Anuluar", "Cancelled"),
];

/// How a table hides what could identify someone from a reader of aggregates only.
enum Privacy {
    /// Small counts, with complementary cells (`suppress`).
    Counts,
    /// Each figure is computed over as many records as given; over fewer than three it is hidden.
    Measured(Vec<i64>),
    /// Nothing about a person: rounds, hours of the week.
    Open,
}

/// A table laid out: its rows in order, each with its figure.
struct Laid {
    id: ReportTableId,
    title: Labels,
    breakdown: String,
    unit: ReportUnit,
    /// A row's figure is absent where nothing was measured.
    rows: Vec<(String, Labels, Option<i64>)>,
    /// `None`: the sum of the rows; `Some(None)`: no total; `Some(Some(n))`: `n` people.
    total: Option<Option<i64>>,
    privacy: Privacy,
    /// Tables that count the same records are hidden together when one hides its total.
    group: Option<&'static str>,
}

impl Laid {
    /// A table of counts over the codes of `vocabulary` (then `extra` rows, then codes counted
    /// that the vocabulary does not list), summed.
    fn counts(
        id: ReportTableId,
        (sq, en): (&str, &str),
        vocabulary: &str,
        extra: &[(&str, &str, &str)],
        counts: &Counts,
        vocabularies: &Vocabularies,
    ) -> Laid {
        let rows = vocabularies
            .rows(vocabulary, extra, counts)
            .into_iter()
            .map(|(code, label)| {
                let count = counts.get(&code).copied().unwrap_or(0);
                (code, label, Some(count))
            })
            .collect();
        Laid {
            id,
            title: Labels { sq: sq.into(), en: en.into() },
            breakdown: vocabulary.into(),
            unit: ReportUnit::Count,
            rows,
            total: None,
            privacy: Privacy::Counts,
            group: None,
        }
    }

    fn in_group(mut self, group: &'static str) -> Laid {
        self.group = Some(group);
        self
    }

    fn overlapping(mut self, people: i64) -> Laid {
        self.total = Some(Some(people));
        self
    }

    fn shown(&self, exact: bool) -> Shown {
        let values: Vec<i64> = self.rows.iter().map(|row| row.2.unwrap_or(0)).collect();
        match &self.privacy {
            Privacy::Counts => match self.total {
                None => suppress::table(&values, exact),
                Some(total) => suppress::with_total(&values, total, exact),
            },
            Privacy::Measured(over) => {
                let values: Vec<Option<i64>> = self.rows.iter().map(|row| row.2).collect();
                suppress::measured(&values, over, exact)
            }
            Privacy::Open => match self.total {
                None => suppress::table(&values, true),
                Some(total) => suppress::with_total(&values, total, true),
            },
        }
    }
}

/// The tables of a report, in order, with a group's tables hidden whole when one of them hides
/// its total.
fn lay_out(laid: &[Laid], exact: bool) -> Vec<ReportTable> {
    let mut shown: Vec<Shown> = laid.iter().map(|table| table.shown(exact)).collect();
    let mut groups: Vec<&'static str> = laid.iter().filter_map(|table| table.group).collect();
    groups.sort_unstable();
    groups.dedup();
    for group in groups {
        let mut members: Vec<&mut Shown> =
            shown.iter_mut().zip(laid).filter(|(_, table)| table.group == Some(group)).map(|(s, _)| s).collect();
        suppress::hide_group_with_hidden_total(&mut members);
    }
    laid.iter()
        .zip(shown)
        .map(|(table, shown)| ReportTable {
            id: table.id,
            title: table.title.clone(),
            breakdown: table.breakdown.clone(),
            unit: table.unit,
            rows_overlap: matches!(table.total, Some(Some(_))),
            rows: table
                .rows
                .iter()
                .zip(shown.cells)
                .map(|((code, label, _), value)| ReportRow { code: code.clone(), label: label.clone(), value })
                .collect(),
            total: shown.total.unwrap_or(ReportValue { count: None, suppressed: false }),
        })
        .collect()
}

fn case_tables(counts: &CaseTables, vocabularies: &Vocabularies) -> Vec<Laid> {
    use ReportTableId::*;
    vec![
        Laid::counts(
            CasesNewByAgeBand,
            ("Raste të reja sipas grupmoshës", "New cases by age band"),
            "age_band",
            &[],
            &counts.new_by_age_band,
            vocabularies,
        )
        .in_group("cases_new"),
        Laid::counts(
            CasesNewBySex,
            ("Raste të reja sipas gjinisë", "New cases by sex"),
            "sex",
            &[],
            &counts.new_by_sex,
            vocabularies,
        )
        .in_group("cases_new"),
        Laid::counts(
            CasesNewByCommunity,
            ("Raste të reja sipas etnisë ose komunitetit", "New cases by ethnicity or community"),
            "ethnicity",
            &[FOREIGN_ROW],
            &counts.new_by_community,
            vocabularies,
        )
        .in_group("cases_new"),
        Laid::counts(
            CasesNewByIdentifier,
            ("Raste të reja sipas identifikuesit", "New cases by who identified the child"),
            "identifier_type",
            &[],
            &counts.new_by_identifier,
            vocabularies,
        )
        .in_group("cases_new"),
        Laid::counts(
            CasesClosedByReason,
            ("Raste të mbyllura sipas arsyes", "Closed cases by reason"),
            "case_closure_reason",
            &[],
            &counts.closed_by_reason,
            vocabularies,
        ),
        Laid::counts(
            CasesManagedByRisk,
            ("Raste në menaxhim sipas nivelit të rrezikut", "Managed cases by risk level"),
            "risk_level",
            &[NOT_ASSESSED_ROW],
            &counts.managed_by_risk,
            vocabularies,
        )
        .in_group("cases_managed"),
        Laid::counts(
            CasesManagedByProblem,
            ("Raste në menaxhim sipas problematikës", "Managed cases by problem"),
            "problem_category",
            &[NOT_ASSESSED_ROW],
            &counts.managed_by_problem,
            vocabularies,
        )
        .in_group("cases_managed"),
        Laid::counts(
            ProtectionMeasuresByType,
            ("Masa mbrojtëse sipas llojit", "Protection measures by type"),
            "protection_measure",
            &[],
            &counts.measures_by_type,
            vocabularies,
        ),
    ]
}

/// The street-situation tables of children or adults.
fn street_tables(children: bool, counts: &StreetTables, vocabularies: &Vocabularies) -> Vec<Laid> {
    use ReportTableId::*;
    let (ids, who, group) = if children {
        (
            [
                StreetChildrenIdentified,
                StreetChildrenBySituation,
                StreetChildrenByResidenceOrigin,
                StreetChildrenAccompanied,
            ],
            ("Fëmijë në situatë rruge", "Children in street situations"),
            "street_children",
        )
    } else {
        (
            [StreetAdultsIdentified, StreetAdultsBySituation, StreetAdultsByResidenceOrigin, StreetAdultsAccompanied],
            ("Të rritur në situatë rruge", "Adults in street situations"),
            "street_adults",
        )
    };
    let title = |sq: &str, en: &str| (format!("{} {sq}", who.0), format!("{} {en}", who.1));
    let titles = [
        title("të identifikuar", "identified"),
        title("sipas situatës", "by situation"),
        title("sipas vendbanimit", "by residence origin"),
        title("të shoqëruar ose jo", "with an adult or not"),
    ];
    let laid = |i: usize, vocabulary: &str, extra: &[(&str, &str, &str)], counted: &Counts| {
        Laid::counts(ids[i], (&titles[i].0, &titles[i].1), vocabulary, extra, counted, vocabularies).in_group(group)
    };
    vec![
        laid(0, "street_identification", &IDENTIFIED_ROWS, &counts.identified),
        laid(1, "street_situation", &[], &counts.by_situation).overlapping(counts.people()),
        laid(2, "residence_origin", &[], &counts.by_residence_origin),
        laid(3, "street_accompaniment", &ACCOMPANIED_ROWS, &counts.accompanied),
    ]
}

/// The referral tables of children or adults.
fn referral_tables(children: bool, counts: &ReferralTables, vocabularies: &Vocabularies) -> Vec<Laid> {
    use ReportTableId::*;
    let (ids, who, group) = if children {
        (
            [ReferralsChildrenByPriority, ReferralsChildrenByReceivingAgency, ReferralsChildrenByOutcome],
            ("Referime të fëmijëve", "Referrals of children"),
            "referrals_children",
        )
    } else {
        (
            [ReferralsAdultsByPriority, ReferralsAdultsByReceivingAgency, ReferralsAdultsByOutcome],
            ("Referime të të rriturve", "Referrals of adults"),
            "referrals_adults",
        )
    };
    let titles = [
        (format!("{} sipas përparësisë", who.0), format!("{} by priority", who.1)),
        (format!("{} sipas llojit të institucionit marrës", who.0), format!("{} by receiving agency type", who.1)),
        (format!("{} sipas rezultatit", who.0), format!("{} by outcome", who.1)),
    ];
    let laid = |i: usize, vocabulary: &str, extra: &[(&str, &str, &str)], counted: &Counts| {
        Laid::counts(ids[i], (&titles[i].0, &titles[i].1), vocabulary, extra, counted, vocabularies).in_group(group)
    };
    vec![
        laid(0, "risk_level", &[], &counts.by_priority),
        laid(1, "agency_type", &[], &counts.by_receiving_agency),
        laid(2, "referral_outcome", &CHAIN_END_ROWS, &counts.by_outcome),
    ]
}

/// Deadlines met and breached, and the response times.
fn response_tables(figures: &ResponseFigures) -> Vec<Laid> {
    let kind_labels = |kind: DeadlineKind| match kind {
        DeadlineKind::Acknowledge => ("Konfirmimi i marrjes", "Acknowledgement"),
        DeadlineKind::FirstContact => ("Kontakti i parë", "First contact"),
        DeadlineKind::Outcome => ("Rezultati", "Outcome"),
    };
    let deadline_rows = referrals::deadline_rows()
        .into_iter()
        .map(|(code, kind, state)| {
            let (sq, en) = kind_labels(kind);
            let (state_sq, state_en) =
                if state == referrals::MET { ("brenda afatit", "in time") } else { ("jashtë afatit", "late") };
            let count = figures.deadlines.get(&code).copied().unwrap_or(0);
            (code, Labels { sq: format!("{sq} {state_sq}"), en: format!("{en} {state_en}") }, Some(count))
        })
        .collect();
    let mut minutes_rows = Vec::new();
    let mut measured = Vec::new();
    for (kind, times) in
        [(DeadlineKind::Acknowledge, &figures.acknowledge), (DeadlineKind::FirstContact, &figures.first_contact)]
    {
        let (sq, en) = kind_labels(kind);
        for (statistic, value, sq_statistic, en_statistic) in [
            ("median", times.median, "mesatarja (mediana)", "median"),
            ("p90", times.p90, "90 % brenda", "90th percentile"),
        ] {
            minutes_rows.push((
                format!("{}_{statistic}", wire_code(kind)),
                Labels { sq: format!("{sq}: {sq_statistic}"), en: format!("{en}: {en_statistic}") },
                value.map(|minutes| minutes.round() as i64),
            ));
            measured.push(times.count);
        }
    }
    vec![
        Laid {
            id: ReportTableId::ReferralDeadlines,
            title: Labels { sq: "Afatet e referimeve".into(), en: "Referral deadlines".into() },
            breakdown: "referral_deadline".into(),
            unit: ReportUnit::Count,
            rows: deadline_rows,
            total: Some(None),
            privacy: Privacy::Counts,
            group: None,
        },
        Laid {
            id: ReportTableId::ReferralResponseMinutes,
            title: Labels { sq: "Koha e përgjigjes (minuta)".into(), en: "Response time (minutes)".into() },
            breakdown: "referral_response_time".into(),
            unit: ReportUnit::Minutes,
            rows: minutes_rows,
            total: Some(None),
            privacy: Privacy::Measured(measured),
            group: None,
        },
    ]
}

/// The smallest of the counts a figure is worked out from that are not zero (0 when all are):
/// a figure from a small count could give it away.
fn smallest_nonzero(counts: &[i64]) -> i64 {
    counts.iter().copied().filter(|&n| n != 0).min().unwrap_or(0)
}

fn labels(sq: impl Into<String>, en: impl Into<String>) -> Labels {
    Labels { sq: sq.into(), en: en.into() }
}

/// A plan table: rows of `(code, labels, figure, records behind it)`.
fn plan_table(
    id: ReportTableId,
    title: Labels,
    breakdown: &str,
    unit: ReportUnit,
    rows: Vec<(String, Labels, Option<i64>, i64)>,
) -> Laid {
    let over = rows.iter().map(|row| row.3).collect();
    Laid {
        id,
        title,
        breakdown: breakdown.into(),
        unit,
        rows: rows.into_iter().map(|(code, label, value, _)| (code, label, value)).collect(),
        total: Some(None),
        privacy: Privacy::Measured(over),
        group: None,
    }
}

/// The plan's indicators.
fn plan_tables(figures: &PlanFigures) -> Vec<Laid> {
    let mut laid = Vec::new();
    let children = figures.children;
    if let Some((baseline, counted, most)) = &figures.baseline {
        let (counted, most) = (*counted, *most);
        let both = smallest_nonzero(&[counted, children]);
        let label = &baseline.period.label;
        laid.push(plan_table(
            ReportTableId::PlanStreetChildren,
            labels("Fëmijë në situatë rruge kundrejt objektivit", "Children in street situations against the target"),
            "plan_indicator",
            ReportUnit::Count,
            vec![
                (
                    plan::BASELINE.into(),
                    labels(format!("Periudha bazë ({label})"), format!("Baseline ({label})")),
                    Some(counted),
                    counted,
                ),
                (plan::PERIOD.into(), labels("Kjo periudhë", "This period"), Some(children), children),
                (plan::TARGET.into(), labels("Objektivi (më së shumti)", "Target (at most)"), Some(most), counted),
                (plan::ABOVE_TARGET.into(), labels("Mbi objektivin", "Above the target"), Some(children - most), both),
            ],
        ));
        let change = (counted > 0).then(|| ((children - counted) as f64 * 100.0 / counted as f64).round() as i64);
        laid.push(plan_table(
            ReportTableId::PlanStreetChildrenChange,
            labels("Ndryshimi nga periudha bazë (%)", "Change from the baseline (%)"),
            "plan_indicator",
            ReportUnit::Percent,
            vec![
                (plan::CHANGE.into(), labels("Ndryshimi", "Change"), change, both),
                (
                    plan::TARGET_CHANGE.into(),
                    labels("Ndryshimi i synuar", "Target change"),
                    Some(i64::from(baseline.target_change_percent)),
                    i64::MAX,
                ),
            ],
        ));
    }
    laid.push(plan_table(
        ReportTableId::PlanStreetChildrenByQuarter,
        labels("Fëmijë në situatë rruge sipas tremujorit", "Children in street situations by quarter"),
        "quarter",
        ReportUnit::Count,
        figures
            .quarters
            .iter()
            .map(|(quarter, n)| (quarter.clone(), labels(quarter.as_str(), quarter.as_str()), Some(*n), *n))
            .collect(),
    ));
    let linked = figures.first_time + figures.repeat;
    let rate = (linked > 0).then(|| (figures.repeat as f64 * 100.0 / linked as f64).round() as i64);
    laid.push(plan_table(
        ReportTableId::PlanRepeatIdentification,
        labels("Fëmijë të identifikuar përsëri (%)", "Children identified again (%)"),
        "plan_indicator",
        ReportUnit::Percent,
        vec![(
            plan::REPEAT_RATE.into(),
            labels("Të identifikuar më parë", "Identified before"),
            rate,
            smallest_nonzero(&[figures.repeat, figures.first_time]),
        )],
    ));
    let round_rows: Vec<(&str, &str, &str)> = vec![
        ("planned", "Planifikuar", "Planned"),
        ("in_progress", "Në zbatim", "In progress"),
        ("done", "Kryer", "Done"),
        ("missed", "E humbur", "Missed"),
        ("cancelled", "Anuluar", "Cancelled"),
    ];
    let hour_rows = [
        (plan::WITH_SIGHTINGS, "Orë me identifikime", "Hours with sightings"),
        (
            plan::WITH_SIGHTINGS_UNCOVERED,
            "Orë me identifikime pa skuadër në terren",
            "Hours with sightings and no team out",
        ),
        (plan::UNCOVERED, "Orë pa skuadër në terren", "Hours with no team out"),
    ];
    let open = |id, title: Labels, breakdown: &str, rows: &[(&str, &str, &str)], counts: &Counts, total| Laid {
        id,
        title,
        breakdown: breakdown.into(),
        unit: ReportUnit::Count,
        rows: rows
            .iter()
            .map(|&(code, sq, en)| (code.to_owned(), labels(sq, en), Some(counts.get(code).copied().unwrap_or(0))))
            .collect(),
        total,
        privacy: Privacy::Open,
        group: None,
    };
    laid.push(open(
        ReportTableId::PlanRoundsByStatus,
        labels("Dalje në terren sipas gjendjes", "Field rounds by status"),
        "round_status",
        &round_rows,
        &figures.rounds_by_status,
        None,
    ));
    laid.push(open(
        ReportTableId::PlanHoursOfWeek,
        labels("Orët e javës (nga 168)", "Hours of the week (of 168)"),
        "hour_of_week",
        &hour_rows,
        &figures.hours,
        Some(None),
    ));
    laid
}
