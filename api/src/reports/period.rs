//! The period a report covers, as the national reports name them: a year (`2022`), a quarter
//! (`2023-Q3`), a half-year (`2024-H1`), or any run of whole days (`2023-07-01..2023-09-30`, both
//! days included). Days are Albania's calendar days, so a quarter starts at midnight in Tirana.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Europe::Tirane;
use terren_contract::problem::{FieldError, FieldErrorCode};

/// A report's period: its name and the first and last day it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl Period {
    /// Reads a period's name; the field error names `field`.
    pub fn parse(field: &str, text: &str) -> Result<Period, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                FieldErrorCode::InvalidFormat,
                "a period is a year (2022), a quarter (2023-Q3), a half-year (2024-H1) or days (2023-07-01..2023-09-30)",
            )
        };
        let text = text.trim();
        if let Some((from, to)) = text.split_once("..") {
            let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| invalid());
            let (first_day, last_day) = (day(from)?, day(to)?);
            if last_day < first_day {
                return Err(FieldError::new(
                    field,
                    FieldErrorCode::EndsBeforeStart,
                    "the last day is before the first",
                ));
            }
            return Ok(Period { label: format!("{first_day}..{last_day}"), first_day, last_day });
        }
        let (year, part) = match text.split_once('-') {
            Some((year, part)) => (year, Some(part)),
            None => (text, None),
        };
        if year.len() != 4 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let (first_month, months) = match part {
            None => (1, 12),
            Some("Q1") => (1, 3),
            Some("Q2") => (4, 3),
            Some("Q3") => (7, 3),
            Some("Q4") => (10, 3),
            Some("H1") => (1, 6),
            Some("H2") => (7, 6),
            Some(_) => return Err(invalid()),
        };
        let first_day = NaiveDate::from_ymd_opt(year, first_month, 1).ok_or_else(invalid)?;
        let next = first_day.checked_add_months(chrono::Months::new(months)).ok_or_else(invalid)?;
        let last_day = next.pred_opt().ok_or_else(invalid)?;
        Ok(Period { label: text.to_owned(), first_day, last_day })
    }

    /// The quarter a day falls in.
    pub fn quarter_of(day: NaiveDate) -> Period {
        let quarter = day.month0() / 3 + 1;
        let label = format!("{}-Q{quarter}", day.year());
        // A quarter of a year chrono can represent always parses.
        Period::parse("period", &label).unwrap_or(Period { label, first_day: day, last_day: day })
    }

    /// The quarters the period runs over, each cut to the period (a quarter keeps its name).
    pub fn quarters(&self) -> Vec<Period> {
        let mut quarters = Vec::new();
        let mut day = self.first_day;
        while day <= self.last_day {
            let quarter = Period::quarter_of(day);
            let next = quarter.last_day.succ_opt();
            quarters.push(Period {
                label: quarter.label,
                first_day: day,
                last_day: quarter.last_day.min(self.last_day),
            });
            match next {
                Some(next) => day = next,
                None => break,
            }
        }
        quarters
    }

    /// How many days the period covers.
    pub fn days(&self) -> i64 {
        (self.last_day - self.first_day).num_days() + 1
    }

    /// The instants (UTC, as stored) the period runs over: from midnight in Tirana on its first
    /// day to midnight after its last, end excluded.
    pub fn bounds(&self) -> (NaiveDateTime, NaiveDateTime) {
        (tirana_midnight(self.first_day), tirana_midnight(self.last_day.succ_opt().unwrap_or(self.last_day)))
    }

    /// Refuses a period that has not begun by `today` (a period under way is reported so far).
    pub fn check_begun(&self, field: &str, today: NaiveDate) -> Result<(), FieldError> {
        if self.first_day > today {
            return Err(FieldError::new(field, FieldErrorCode::InFuture, "the period has not begun"));
        }
        Ok(())
    }
}

/// Midnight at the start of a day in Tirana, in UTC.
pub fn tirana_midnight(day: NaiveDate) -> NaiveDateTime {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Albania changes its clocks at 02:00 or 03:00, never at midnight, so midnight is one instant.
    Tirane.from_local_datetime(&midnight).earliest().map_or(midnight, |t| t.naive_utc())
}

/// The day an instant (UTC, as stored) falls on in Tirana.
pub fn tirana_day(at: NaiveDateTime) -> NaiveDate {
    Tirane.from_utc_datetime(&at).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_are_named_as_the_national_reports_name_them() {
        for (text, first, last) in [
            ("2022", "2022-01-01", "2022-12-31"),
            ("2023-Q3", "2023-07-01", "2023-09-30"),
            ("2024-Q1", "2024-01-01", "2024-03-31"),
            ("2024-H1", "2024-01-01", "2024-06-30"),
            ("2025-H2", "2025-07-01", "2025-12-31"),
            ("2023-07-01..2023-09-30", "2023-07-01", "2023-09-30"),
            ("2023-07-01..2023-07-01", "2023-07-01", "2023-07-01"),
        ] {
            let period = Period::parse("period", text).unwrap();
            assert_eq!((period.first_day, period.last_day), (day(first), day(last)), "{text}");
        }
        assert_eq!(Period::parse("period", "2024-Q1").unwrap().days(), 91, "a leap year's first quarter");
    }

    #[test]
    fn a_bad_period_names_what_is_wrong() {
        for (text, code) in [
            ("2022-Q5", FieldErrorCode::InvalidFormat),
            ("22", FieldErrorCode::InvalidFormat),
            ("last year", FieldErrorCode::InvalidFormat),
            ("2023-13-01..2023-14-01", FieldErrorCode::InvalidFormat),
            ("2023-09-30..2023-07-01", FieldErrorCode::EndsBeforeStart),
        ] {
            assert_eq!(Period::parse("period", text).unwrap_err().code, code, "{text}");
        }
        let next_year = Period::parse("period", "2027").unwrap();
        assert_eq!(next_year.check_begun("period", day("2026-12-04")).unwrap_err().code, FieldErrorCode::InFuture);
        assert!(Period::parse("period", "2026-Q4").unwrap().check_begun("period", day("2026-12-04")).is_ok());
    }

    #[test]
    fn a_period_runs_from_midnight_in_tirana_in_summer_and_winter() {
        let (from, to) = Period::parse("period", "2023-Q3").unwrap().bounds();
        assert_eq!(from.to_string(), "2023-06-30 22:00:00", "summer time, UTC+2");
        assert_eq!(to.to_string(), "2023-09-30 22:00:00");
        let (from, to) = Period::parse("period", "2022").unwrap().bounds();
        assert_eq!((from.to_string(), to.to_string()), ("2021-12-31 23:00:00".into(), "2022-12-31 23:00:00".into()));
        assert_eq!(tirana_day(from), day("2022-01-01"));
        assert_eq!(Period::quarter_of(day("2023-08-15")).label, "2023-Q3");
    }

    #[test]
    fn a_period_is_cut_into_the_quarters_it_runs_over() {
        let quarters = |text: &str| -> Vec<(String, NaiveDate, NaiveDate)> {
            Period::parse("period", text)
                .unwrap()
                .quarters()
                .into_iter()
                .map(|q| (q.label, q.first_day, q.last_day))
                .collect()
        };
        assert_eq!(
            quarters("2025").iter().map(|q| q.0.as_str()).collect::<Vec<_>>(),
            ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
        );
        assert_eq!(quarters("2023-Q3"), [("2023-Q3".to_owned(), day("2023-07-01"), day("2023-09-30"))]);
        assert_eq!(
            quarters("2023-09-15..2023-10-10"),
            [
                ("2023-Q3".to_owned(), day("2023-09-15"), day("2023-09-30")),
                ("2023-Q4".to_owned(), day("2023-10-01"), day("2023-10-10"))
            ]
        );
    }
}
