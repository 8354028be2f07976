//! A report as an Excel workbook (XLSX): a cover sheet saying what the report covers, then one
//! sheet per table.
//!
//! The cover sheet (`Raporti - Report`) has one line per fact, Albanian label in column A,
//! English in B, value in C: the area, the period and its days, when the report was generated,
//! the date its data run to (the cut-off), whether small numbers are hidden and what `<3` means;
//! then the list of table sheets with their titles. Each table's sheet is named by the table's
//! id (cut to Excel's 31 characters, made unique) and holds the title in Albanian (A1) and
//! English (A2), a header row in both languages (row 4), one row per row of the table and a last
//! row with the total (code `total`). Counts are numbers; a hidden count is the text `<3`.

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use terren_contract::reports::Report;

use super::words::{self, both};
use super::{Cell, SUPPRESSED, TOTAL_ROW, local_time, shown, table_key};

/// The cover sheet's name.
pub const COVER_SHEET: &str = "Raporti - Report";
/// Where a table sheet's header row is (0-based): the title takes the two rows above, then a gap.
pub const HEADER_ROW: u32 = 3;

/// Excel's longest sheet name, in UTF-16 units (the ids are ASCII).
const MAX_SHEET_NAME: usize = 31;

/// The report as a workbook; `cut_off` is the instant its data run to (`generated_at` for a
/// report counted now).
pub fn xlsx(report: &Report, cut_off: DateTime<Utc>) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let generated = ExcelDateTime::from_timestamp(report.generated_at.timestamp())?;
    workbook.set_properties(
        &rust_xlsxwriter::DocProperties::new()
            .set_title(format!("Terren: {} {} {}", words::REPORT.0, report.area.code, report.period.label))
            .set_author("Terren")
            .set_creation_datetime(&generated),
    );
    let names = sheet_names(report);

    let cover = workbook.add_worksheet();
    cover.set_name(COVER_SHEET)?;
    write_cover(cover, report, cut_off, &names, &bold)?;

    for (table, name) in report.tables.iter().zip(&names) {
        let sheet = workbook.add_worksheet();
        sheet.set_name(name)?;
        sheet.write_string_with_format(0, 0, &table.title.sq, &bold)?;
        sheet.write_string(1, 0, &table.title.en)?;
        let header = [
            both(words::CODE),
            format!("{} (sq)", both(words::LABEL)),
            format!("{} (en)", words::LABEL.1),
            both(words::COUNT),
        ];
        for (col, text) in (0..).zip(header) {
            sheet.write_string_with_format(HEADER_ROW, col, text, &bold)?;
        }
        let rows = table
            .rows
            .iter()
            .map(|row| (row.code.as_str(), row.label.sq.as_str(), row.label.en.as_str(), &row.value, None));
        let total = (TOTAL_ROW, words::TOTAL.0, words::TOTAL.1, &table.total, Some(&bold));
        for (row, (code, sq, en, value, format)) in (HEADER_ROW + 1..).zip(rows.chain([total])) {
            let plain = Format::new();
            let format = format.unwrap_or(&plain);
            sheet.write_string_with_format(row, 0, code, format)?;
            sheet.write_string_with_format(row, 1, sq, format)?;
            sheet.write_string_with_format(row, 2, en, format)?;
            match shown(value) {
                Cell::Figure(figure) => sheet.write_number_with_format(row, 3, figure as f64, format)?,
                Cell::Hidden => sheet.write_string_with_format(row, 3, SUPPRESSED, format)?,
                Cell::Empty => sheet.write_blank(row, 3, format)?,
            };
        }
        for (col, width) in [(0, 26), (1, 44), (2, 44), (3, 12)] {
            sheet.set_column_width(col, width)?;
        }
        sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    }
    workbook.save_to_buffer()
}

fn write_cover(
    cover: &mut Worksheet,
    report: &Report,
    cut_off: DateTime<Utc>,
    names: &[String],
    bold: &Format,
) -> Result<(), XlsxError> {
    let yes_no = if report.small_numbers_hidden { words::YES } else { words::NO };
    cover.write_string_with_format(0, 0, format!("Terren: {}", both(words::REPORT)), bold)?;
    let facts: [((&str, &str), String); 8] = [
        (words::AREA, format!("{} ({})", report.area.name, report.area.code)),
        (words::PERIOD, report.period.label.clone()),
        (words::FIRST_DAY, report.period.first_day.to_string()),
        (words::LAST_DAY, report.period.last_day.to_string()),
        (words::GENERATED_AT, local_time(report.generated_at)),
        (words::CUT_OFF, local_time(cut_off)),
        (words::SMALL_NUMBERS_HIDDEN, both(yes_no)),
        ((SUPPRESSED, SUPPRESSED), both(words::HIDDEN_MEANS)),
    ];
    for (row, ((sq, en), value)) in (2..).zip(facts) {
        cover.write_string_with_format(row, 0, sq, bold)?;
        cover.write_string_with_format(row, 1, en, bold)?;
        cover.write_string(row, 2, value)?;
    }
    let listed = 2 + 8 + 1;
    cover.write_string_with_format(listed, 0, both(words::SHEET), bold)?;
    cover.write_string_with_format(listed, 1, format!("{} (sq)", both(words::TITLE)), bold)?;
    cover.write_string_with_format(listed, 2, format!("{} (en)", words::TITLE.1), bold)?;
    for (row, (table, name)) in (listed + 1..).zip(report.tables.iter().zip(names)) {
        cover.write_string(row, 0, name)?;
        cover.write_string(row, 1, &table.title.sq)?;
        cover.write_string(row, 2, &table.title.en)?;
    }
    for (col, width) in [(0, 34), (1, 30), (2, 48)] {
        cover.set_column_width(col, width)?;
    }
    Ok(())
}

/// A sheet name per table: its id without the characters Excel forbids, at most 31 characters,
/// and unlike every other (Excel compares names without case) and the cover's.
fn sheet_names(report: &Report) -> Vec<String> {
    let mut taken: Vec<String> = vec![COVER_SHEET.to_lowercase()];
    report
        .tables
        .iter()
        .map(|table| {
            let clean: String = table_key(table.id)
                .chars()
                .map(|c| if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') { '_' } else { c })
                .collect();
            let clean = clean.trim_matches('\'');
            let clean = if clean.is_empty() { "table" } else { clean };
            let mut name: String = clean.chars().take(MAX_SHEET_NAME).collect();
            let mut n = 1;
            while taken.contains(&name.to_lowercase()) {
                n += 1;
                let suffix = format!("~{n}");
                name = clean.chars().take(MAX_SHEET_NAME - suffix.len()).collect::<String>() + &suffix;
            }
            taken.push(name.to_lowercase());
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    use chrono::TimeZone;

    use super::super::testing;
    use super::*;

    fn text(cell: Option<&Data>) -> String {
        match cell {
            Some(Data::String(s)) => s.clone(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn the_workbook_reads_back_with_a_cover_a_sheet_per_table_numbers_and_hidden_counts() {
        let report = testing::report();
        let cut_off = Utc.with_ymd_and_hms(2023, 9, 30, 21, 59, 59).unwrap();
        let bytes = xlsx(&report, cut_off).unwrap();
        let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), [COVER_SHEET, "cases_new_by_community", "protection_measures_by_type"]);

        let cover = book.worksheet_range(COVER_SHEET).unwrap();
        let fact = |sq: &str| -> (String, String) {
            let row = (0..cover.height() as u32)
                .find(|&r| cover.get_value((r, 0)) == Some(&Data::String(sq.into())))
                .unwrap_or_else(|| panic!("{sq}"));
            (text(cover.get_value((row, 1))), text(cover.get_value((row, 2))))
        };
        assert_eq!(fact("Zona"), ("Area".into(), "Tiranë (AL224)".into()));
        assert_eq!(fact("Periudha"), ("Period".into(), "2023-Q3".into()));
        assert_eq!(fact("Krijuar më"), ("Generated at".into(), "2023-10-02 10:15:00 +02:00".into()));
        assert_eq!(fact("Të dhënat deri më"), ("Data as of".into(), "2023-09-30 23:59:59 +02:00".into()));
        assert_eq!(fact("Numrat e vegjël të fshehur"), ("Small numbers hidden".into(), "Po / Yes".into()));
        assert_eq!(fact("cases_new_by_community").0, "Raste të reja sipas etnisë ose komunitetit");

        let sheet = book.worksheet_range("cases_new_by_community").unwrap();
        assert_eq!(text(sheet.get_value((0, 0))), "Raste të reja sipas etnisë ose komunitetit");
        assert_eq!(text(sheet.get_value((1, 0))), "New cases by ethnicity or community");
        let header: Vec<String> = (0..4).map(|c| text(sheet.get_value((HEADER_ROW, c)))).collect();
        assert_eq!(header, ["Kodi / Code", "Emërtimi / Label (sq)", "Label (en)", "Numri / Count"]);
        let row = |r: u32| (text(sheet.get_value((HEADER_ROW + r, 0))), sheet.get_value((HEADER_ROW + r, 3)).cloned());
        assert_eq!(row(1), ("roma".into(), Some(Data::Float(12.0))));
        assert_eq!(row(2), ("egyptian".into(), Some(Data::String("<3".into()))));
        assert_eq!(row(5), ("not_stated".into(), Some(Data::Float(0.0))));
        assert_eq!(row(6), ("total".into(), Some(Data::Float(60.0))));
        assert_eq!(text(sheet.get_value((HEADER_ROW + 6, 1))), "Gjithsej");
        assert_eq!(text(sheet.get_value((HEADER_ROW + 5, 1))), "Pa deklaruar, çfarëdo");
        assert_eq!(sheet.height() as u32, HEADER_ROW + 7, "nothing after the total");
    }

    #[test]
    fn sheet_names_are_short_unique_and_allowed() {
        let mut report = testing::report();
        let copy = report.tables[0].clone();
        report.tables.push(copy);
        let names = sheet_names(&report);
        assert_eq!(names, ["cases_new_by_community", "protection_measures_by_type", "cases_new_by_community~2"]);
        assert!(xlsx(&report, report.generated_at).is_ok());
    }
}
