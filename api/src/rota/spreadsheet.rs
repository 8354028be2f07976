//! The CSV rota for the police, the court and ASHDMF: local times with their offsets, cells a
//! spreadsheet would run as formulas made inert.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use terren_contract::Permission;
use terren_contract::schedules::Shift as ShiftView;

use super::calendar::shifts_in;
use super::ical::{NOT_COVERED, names};
use super::{service, shifts};
use crate::access::AuthUser;
use crate::db::DbConnection;
use crate::http::{ApiError, ApiResult};
use crate::ids::ScheduleId;

/// The header row: Albanian and English.
pub const CSV_HEADER: [&str; 4] = ["Fillimi / Start", "Mbarimi / End", "Në gadishmëri / On duty", "Telefoni / Phone"];

pub struct RotaCsv {
    pub filename: String,
    pub body: String,
}

/// `rota-<slug of the name>.csv`, ASCII only.
pub fn csv_filename(schedule_name: &str) -> String {
    let mut slug = String::new();
    for c in deunicode::deunicode(schedule_name).to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { "rota.csv".to_owned() } else { format!("rota-{slug}.csv") }
}

/// A cell a spreadsheet would take for a formula gets a leading apostrophe.
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}

/// The rota as CSV (RFC 4180, CRLF), local times in `tz` with their UTC offset, so that the hour
/// the clocks repeat in autumn reads as two different times (`02:00 +02:00`, then `02:00 +01:00`).
/// Starts with a UTF-8 byte-order mark so that spreadsheets read the Albanian letters right.
pub fn render_csv(tz: Tz, shifts: &[ShiftView]) -> ApiResult<String> {
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z").to_string();
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let failed = |e: csv::Error| ApiError::internal(anyhow::anyhow!("writing the CSV failed: {e}"));
    writer.write_record(CSV_HEADER).map_err(failed)?;
    for shift in shifts {
        let (who, phones) = if shift.people.is_empty() {
            (NOT_COVERED.to_owned(), String::new())
        } else {
            let phones: Vec<&str> = shift.people.iter().filter_map(|p| p.phone.as_deref()).collect();
            (inert(names(&shift.people)), phones.join(" + "))
        };
        writer.write_record([local(shift.start), local(shift.end), who, phones]).map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|e| ApiError::internal(anyhow::anyhow!("writing the CSV failed: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| ApiError::internal(anyhow::Error::from(e)))?;
    Ok(format!("\u{feff}{text}"))
}

/// The final schedule between `from` and `to` (the same limits as `shifts`) as a CSV file.
pub fn rota_csv(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &ScheduleId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<RotaCsv> {
    user.require(Permission::ReferenceRead)?;
    shifts::check_span(from, to)?;
    let loaded = service::load(conn, schedule_id)?;
    let shifts = shifts_in(conn, &loaded, (from, to), Duration::zero())?;
    Ok(RotaCsv { filename: csv_filename(&loaded.row.name), body: render_csv(loaded.tz, &shifts)? })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use terren_contract::schedules::OnDutyPerson;
    use uuid::Uuid;

    use super::*;

    fn person(name: &str, phone: Option<&str>) -> OnDutyPerson {
        OnDutyPerson { id: Uuid::now_v7(), display_name: name.into(), phone: phone.map(str::to_owned) }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_shows_local_times() {
        let tz: Tz = chrono_tz::Europe::Tirane;
        let shifts = vec![
            ShiftView {
                start: Utc.with_ymd_and_hms(2026, 3, 28, 7, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 3, 29, 6, 0, 0).unwrap(),
                people: vec![
                    person("Ana \"Xhoi\", Tiranë", Some("+355690000001")),
                    person("Ben", Some("+355690000002")),
                ],
                sources: Vec::new(),
            },
            ShiftView {
                start: Utc.with_ymd_and_hms(2026, 3, 29, 6, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 3, 29, 18, 0, 0).unwrap(),
                people: Vec::new(),
                sources: Vec::new(),
            },
            ShiftView {
                start: Utc.with_ymd_and_hms(2026, 3, 29, 18, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 3, 30, 6, 0, 0).unwrap(),
                people: vec![person("=HYPERLINK(\"x\")", None)],
                sources: Vec::new(),
            },
        ];
        let text = render_csv(tz, &shifts).unwrap();
        assert_eq!(
            text,
            "\u{feff}Fillimi / Start,Mbarimi / End,Në gadishmëri / On duty,Telefoni / Phone\r\n\
             2026-03-28 08:00 +01:00,2026-03-29 08:00 +02:00,\"Ana \"\"Xhoi\"\", Tiranë + Ben\",+355690000001 + +355690000002\r\n\
             2026-03-29 08:00 +02:00,2026-03-29 20:00 +02:00,PA MBULIM / NOT COVERED,\r\n\
             2026-03-29 20:00 +02:00,2026-03-30 08:00 +02:00,\"'=HYPERLINK(\"\"x\"\")\",\r\n"
        );
    }

    #[test]
    fn csv_tells_the_repeated_autumn_hour_apart() {
        let tz: Tz = chrono_tz::Europe::Tirane;
        let shift = |h: u32, name: &str| ShiftView {
            start: Utc.with_ymd_and_hms(2027, 10, 31, h, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2027, 10, 31, h + 1, 0, 0).unwrap(),
            people: vec![person(name, None)],
            sources: Vec::new(),
        };
        let text = render_csv(tz, &[shift(0, "A"), shift(1, "B")]).unwrap();
        let rows: Vec<&str> = text.split("\r\n").skip(1).collect();
        assert_eq!(rows[0], "2027-10-31 02:00 +02:00,2027-10-31 02:00 +01:00,A,");
        assert_eq!(rows[1], "2027-10-31 02:00 +01:00,2027-10-31 03:00 +01:00,B,");
    }

    #[test]
    fn csv_file_names_are_ascii_slugs() {
        assert_eq!(csv_filename("Gadishmëria QKT"), "rota-gadishmeria-qkt.csv");
        assert_eq!(csv_filename("  Natë / Çdo ditë!  "), "rota-nate-cdo-dite.csv");
        assert_eq!(csv_filename("—"), "rota.csv");
    }
}
