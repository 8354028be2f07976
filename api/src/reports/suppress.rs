//! Hiding small numbers from readers of aggregates only, so that no table identifies a child.
//!
//! A count from 1 to [`MIN_PUBLISHED_COUNT`]` - 1` is hidden (primary suppression). A table shows
//! its total, so one hidden cell could be worked out as the total less the others: whenever a
//! table hides any cell it also hides its smallest count at or above the floor (complementary
//! suppression), so the hidden cells' sum always holds an unknown that is not small. When no such
//! count exists, the total is hidden too; and since every table of a report that counts the same
//! records (the four tables of new cases, the two of managed ones) adds up to the same total, the
//! other tables of that group are then hidden whole. Zeros are shown: a zero says nothing about
//! the hidden cells.
//!
//! What this protects against is working a hidden count out from the sums a report shows (its
//! totals, its rows, the other tables of the same records); it does not claim to withstand a
//! reader who also reasons about which cell the rule would have chosen as the complement.

use terren_contract::reports::ReportValue;

use crate::access::MIN_PUBLISHED_COUNT;

/// A table's counts as they are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub cells: Vec<ReportValue>,
    /// Absent for a table whose rows are not parts of a whole.
    pub total: Option<ReportValue>,
}

impl Shown {
    fn total_hidden(&self) -> bool {
        self.total.is_some_and(|total| total.suppressed)
    }
}

fn shown(count: i64) -> ReportValue {
    ReportValue { count: Some(count), suppressed: false }
}

const HIDDEN: ReportValue = ReportValue { count: None, suppressed: true };

fn small(count: i64) -> bool {
    (1..MIN_PUBLISHED_COUNT).contains(&count)
}

/// The counts of one table and their total as every reader sees them: exact when `exact`.
pub fn table(counts: &[i64], exact: bool) -> Shown {
    with_total(counts, Some(counts.iter().sum()), exact)
}

/// The counts of a table whose total is not their sum (people counted once though in several
/// rows), or that has none, as every reader sees them. A table without a total hides its cells
/// the same way, so that what other tables show cannot give a hidden cell away either.
pub fn with_total(counts: &[i64], total: Option<i64>, exact: bool) -> Shown {
    if exact {
        return Shown { cells: counts.iter().copied().map(shown).collect(), total: total.map(shown) };
    }
    let mut hidden: Vec<bool> = counts.iter().map(|&c| small(c)).collect();
    let mut total_hidden = total.is_some_and(small);
    if hidden.iter().any(|&h| h) {
        let complement = counts
            .iter()
            .enumerate()
            .filter(|&(i, &c)| !hidden[i] && c >= MIN_PUBLISHED_COUNT)
            .min_by_key(|&(_, &c)| c)
            .map(|(i, _)| i);
        match complement {
            Some(i) => hidden[i] = true,
            None => total_hidden = true,
        }
    }
    if total_hidden {
        hidden = counts.iter().map(|&c| c > 0).collect();
    }
    Shown {
        cells: counts.iter().zip(&hidden).map(|(&c, &h)| if h { HIDDEN } else { shown(c) }).collect(),
        total: total.map(|total| if total_hidden { HIDDEN } else { shown(total) }),
    }
}

/// Figures computed over records (a median of response times, say), each hidden from readers of
/// aggregates only when fewer than [`MIN_PUBLISHED_COUNT`] records are behind it; a figure with
/// nothing behind it is absent.
pub fn measured(values: &[Option<i64>], over: &[i64], exact: bool) -> Shown {
    let cells = values
        .iter()
        .zip(over)
        .map(|(&value, &over)| match value {
            None => ReportValue { count: None, suppressed: false },
            Some(_) if !exact && small(over) => HIDDEN,
            Some(value) => shown(value),
        })
        .collect();
    Shown { cells, total: None }
}

/// Hides every table of a group (tables counting the same records) whole when one of them hides
/// its total: their shown cells would otherwise give that total back.
pub fn hide_group_with_hidden_total(group: &mut [&mut Shown]) {
    if group.iter().any(|t| t.total_hidden()) {
        for table in group.iter_mut() {
            for cell in &mut table.cells {
                if cell.count != Some(0) {
                    *cell = HIDDEN;
                }
            }
            table.total = table.total.map(|_| HIDDEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(shown: &Shown) -> Vec<Option<i64>> {
        shown.cells.iter().map(|c| c.count).collect()
    }

    /// Whether a hidden cell can be worked out from the sums shown: each hidden count is at
    /// least 1 (only non-zero counts are hidden), so with the total known a hidden cell is given
    /// away when it is alone or when the hidden cells add up to no more than their number.
    fn recoverable(shown: &Shown, known_total: Option<i64>) -> bool {
        let hidden = shown.cells.iter().filter(|c| c.suppressed).count();
        let Some(total) = shown.total.and_then(|t| t.count).or(known_total) else { return false };
        let rest = total - shown.cells.iter().filter_map(|c| c.count).sum::<i64>();
        hidden == 1 || (hidden > 1 && rest == i64::try_from(hidden).unwrap())
    }

    #[test]
    fn an_exact_reader_sees_every_count() {
        let shown = table(&[1, 0, 7], true);
        assert_eq!(counts(&shown), [Some(1), Some(0), Some(7)]);
        assert_eq!(shown.total.unwrap().count, Some(8));
    }

    #[test]
    fn one_small_cell_takes_the_smallest_other_with_it() {
        let shown = table(&[1, 0, 7, 4, 12], false);
        assert_eq!(counts(&shown), [None, Some(0), Some(7), None, Some(12)]);
        assert_eq!(shown.total.unwrap().count, Some(24));
        assert!(!recoverable(&shown, None));
    }

    #[test]
    fn when_only_small_cells_are_left_the_total_goes_too() {
        let shown = table(&[1, 1, 0], false);
        assert_eq!(counts(&shown), [None, None, Some(0)]);
        assert!(shown.total_hidden());
        let shown = table(&[2], false);
        assert_eq!((counts(&shown), shown.total_hidden()), (vec![None], true));
        let shown = table(&[2, 5], false);
        assert_eq!((counts(&shown), shown.total.unwrap().count), (vec![None, None], Some(7)));
        assert!(!recoverable(&shown, None));
    }

    #[test]
    fn nothing_is_hidden_where_nothing_is_small() {
        let shown = table(&[0, 3, 40], false);
        assert_eq!(counts(&shown), [Some(0), Some(3), Some(40)]);
        assert_eq!(shown.total.unwrap().count, Some(43));
    }

    #[test]
    fn no_hidden_count_can_be_worked_back_from_the_sums_of_linked_tables() {
        // Every pair of tables of the same records: three cells of 0..=6 by age, two by sex.
        for n in 0..(7 * 7 * 7) {
            let by_age: Vec<i64> = (0..3).map(|i| (n / 7_i64.pow(i)) % 7).collect();
            let total: i64 = by_age.iter().sum();
            for first in 0..=total {
                let by_sex = [first, total - first];
                let (mut age, mut sex) = (table(&by_age, false), table(&by_sex, false));
                hide_group_with_hidden_total(&mut [&mut age, &mut sex]);
                // Whatever one table shows whole gives the other its total.
                let whole = |t: &Shown| {
                    t.cells.iter().all(|c| !c.suppressed).then(|| t.cells.iter().filter_map(|c| c.count).sum())
                };
                for (shown, counts, other) in [(&age, &by_age[..], whole(&sex)), (&sex, &by_sex[..], whole(&age))] {
                    assert!(!recoverable(shown, other), "{by_age:?} / {by_sex:?} → {shown:?}");
                    for (count, value) in counts.iter().zip(&shown.cells) {
                        assert!(!small(*count) || value.suppressed, "{counts:?}: a small count shows");
                    }
                }
            }
        }
    }

    #[test]
    fn a_group_with_a_hidden_total_is_hidden_whole() {
        let (mut by_age, mut by_sex) = (table(&[1, 1, 0], false), table(&[2, 0], false));
        assert!(by_age.total_hidden());
        hide_group_with_hidden_total(&mut [&mut by_age, &mut by_sex]);
        assert_eq!(counts(&by_sex), [None, Some(0)]);
        assert!(by_sex.total_hidden());
        let (mut by_age, mut by_sex) = (table(&[1, 4, 3], false), table(&[5, 3], false));
        hide_group_with_hidden_total(&mut [&mut by_age, &mut by_sex]);
        assert_eq!(counts(&by_sex), [Some(5), Some(3)], "nothing to hide when every total shows");
    }
}
