//! A report as CSV (RFC 4180, CRLF line ends), for spreadsheets and scripts: UTF-8 with a
//! byte-order mark, so that Excel reads the Albanian letters right.
//!
//! First what the report covers, one line each (`Zona / Area`, `Periudha / Period`, `Krijuar më /
//! Generated at`, `Numrat e vegjël të fshehur / Small numbers hidden`, and what `<3` means), then
//! an empty line, then one header row and one row per row of every table, each table closed by
//! its total (code `total`). A hidden count is written `<3`.

use terren_contract::reports::Report;

use super::words::{self, both};
use super::{Cell, SUPPRESSED, TOTAL_ROW, inert, local_time, shown, table_key};

/// The header row of the tables.
pub fn header() -> [String; 7] {
    [
        both(words::TABLE),
        format!("{} (sq)", both(words::TITLE)),
        format!("{} (en)", words::TITLE.1),
        both(words::CODE),
        format!("{} (sq)", both(words::LABEL)),
        format!("{} (en)", words::LABEL.1),
        both(words::COUNT),
    ]
}

/// The report as a CSV file.
pub fn csv(report: &Report) -> Vec<u8> {
    match render(report) {
        Ok(bytes) => bytes,
        // Records of any length are written to memory: nothing can fail.
        Err(e) => unreachable!("writing a CSV to memory: {e}"),
    }
}

fn render(report: &Report) -> Result<Vec<u8>, ::csv::Error> {
    let writer =
        || ::csv::WriterBuilder::new().flexible(true).terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
    let yes_no = if report.small_numbers_hidden { words::YES } else { words::NO };

    let mut about = writer();
    about.write_record([format!("Terren: {}", both(words::REPORT))])?;
    about.write_record([
        both(words::AREA),
        report.area.code.clone(),
        inert(&report.area.name),
        report.area.level.clone(),
    ])?;
    about.write_record([
        both(words::PERIOD),
        report.period.label.clone(),
        report.period.first_day.to_string(),
        report.period.last_day.to_string(),
    ])?;
    about.write_record([both(words::GENERATED_AT), local_time(report.generated_at)])?;
    about.write_record([both(words::SMALL_NUMBERS_HIDDEN), both(yes_no)])?;
    about.write_record([SUPPRESSED.to_owned(), both(words::HIDDEN_MEANS)])?;

    let mut tables = writer();
    tables.write_record(header())?;
    for table in &report.tables {
        let key = table_key(table.id);
        let rows = table.rows.iter().map(|row| (row.code.as_str(), &row.label.sq, &row.label.en, &row.value));
        let (total_sq, total_en) = (words::TOTAL.0.to_owned(), words::TOTAL.1.to_owned());
        for (code, sq, en, value) in rows.chain([(TOTAL_ROW, &total_sq, &total_en, &table.total)]) {
            tables.write_record([
                key.clone(),
                inert(&table.title.sq),
                inert(&table.title.en),
                inert(code),
                inert(sq),
                inert(en),
                match shown(value) {
                    Cell::Figure(figure) => figure.to_string(),
                    Cell::Hidden => SUPPRESSED.to_owned(),
                    Cell::Empty => String::new(),
                },
            ])?;
        }
    }

    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(about.into_inner().map_err(|e| ::csv::Error::from(e.into_error()))?);
    bytes.extend(b"\r\n");
    bytes.extend(tables.into_inner().map_err(|e| ::csv::Error::from(e.into_error()))?);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;

    /// The file read back as the csv crate reads it, after the byte-order mark.
    fn records(bytes: &[u8]) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(bytes).unwrap();
        let text = text.strip_prefix('\u{feff}').expect("a byte-order mark first");
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn the_csv_reads_back_with_its_headers_values_and_hidden_counts() {
        let report = testing::report();
        let bytes = csv(&report);
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 byte-order mark");
        let records = records(&bytes);

        // What the report covers comes first.
        assert_eq!(records[0], ["Terren: Raport / Report"]);
        assert_eq!(records[1], ["Zona / Area", "AL224", "Tiranë", "municipality"]);
        assert_eq!(records[2], ["Periudha / Period", "2023-Q3", "2023-07-01", "2023-09-30"]);
        assert_eq!(records[3], ["Krijuar më / Generated at", "2023-10-02 10:15:00 +02:00"]);
        assert_eq!(records[4], ["Numrat e vegjël të fshehur / Small numbers hidden", "Po / Yes"]);
        assert_eq!(records[5][0], "<3");

        // Then the tables, under one header row.
        let header = &records[6];
        assert_eq!(
            header,
            &[
                "Tabela / Table",
                "Titulli / Title (sq)",
                "Title (en)",
                "Kodi / Code",
                "Emërtimi / Label (sq)",
                "Label (en)",
                "Numri / Count"
            ]
        );
        let rows = &records[7..];
        assert_eq!(rows.len(), 5 + 1 + 1 + 1, "every row and each table's total");
        assert_eq!(
            rows[0],
            [
                "cases_new_by_community",
                "Raste të reja sipas etnisë ose komunitetit",
                "New cases by ethnicity or community",
                "roma",
                "Rome",
                "Roma",
                "12"
            ]
        );
        assert_eq!((rows[1][3].as_str(), rows[1][6].as_str()), ("egyptian", "<3"));
        assert_eq!((rows[3][4].as_str(), rows[3][6].as_str()), ("Të huaj", "<3"));
        assert_eq!(rows[4][4..], ["Pa deklaruar, çfarëdo", "Not stated, \"any\"", "0"], "quoted and read back whole");
        assert_eq!(rows[5][3..], ["total", "Gjithsej", "Total", "60"]);
        assert_eq!(rows[6][..1], ["protection_measures_by_type"]);
        assert_eq!(rows[7][3..], ["total", "Gjithsej", "Total", "5"]);
    }

    #[test]
    fn text_a_spreadsheet_would_run_is_made_inert() {
        let mut report = testing::report();
        report.tables[1].rows[0].label.sq = "=HYPERLINK(\"x\")".into();
        let records = records(&csv(&report));
        assert_eq!(records[13][4], "'=HYPERLINK(\"x\")");
    }
}
