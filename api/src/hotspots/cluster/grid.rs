//! A uniform grid over projected points: square cells at least the neighbour distance wide, so
//! that a point's neighbours are all in its own cell or the eight around it.

use std::collections::HashMap;

use super::Params;
use super::projection::within;

/// Grid cells are a little wider than the neighbour distance, so that rounding in the division
/// by the cell size can never put two neighbours two cells apart.
const CELL_SIZE_MARGIN: f64 = 1.001;
/// With a zero or tiny distance, cells this small already separate distinct points; smaller ones
/// would only push cell coordinates towards the limits of `i64`.
const MIN_CELL_SIZE_M: f64 = 1e-3;

/// The cell itself first, so that a core point is usually recognised within its own cell.
const CELL_AND_NEIGHBOURS: [(i64, i64); 9] =
    [(0, 0), (-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)];

/// Projected points bucketed in square cells at least `eps` wide, so that a point's neighbours are
/// all in its own cell or the eight around it.
pub(super) struct Grid {
    pub(super) eps_squared: f64,
    /// The cells that hold points, numbered in the order of their first point in the input.
    pub(super) cells: Vec<Cell>,
    /// Each input point's cell and projected position; `None` without finite coordinates.
    pub(super) placement: Vec<Option<(usize, (f64, f64))>>,
}

#[derive(Default)]
pub(super) struct Cell {
    /// Positions kept next to the indices, so that scanning a cell reads memory in order.
    pub(super) members: Vec<Member>,
    /// This cell first, then those of the eight around it that hold points.
    pub(super) around: Vec<usize>,
    /// Points in this cell and the eight around: an upper bound on any member's neighbours.
    reachable: usize,
}

pub(super) struct Member {
    pub(super) index: usize,
    pub(super) position: (f64, f64),
}

impl Grid {
    pub(super) fn new(positions: Vec<Option<(f64, f64)>>, params: Params) -> Self {
        let eps_squared = params.eps_squared();
        let cell_size = (eps_squared.sqrt() * CELL_SIZE_MARGIN).max(MIN_CELL_SIZE_M);
        // Casting saturates, so even absurd coordinates get a cell; only the grid's selectivity
        // suffers, not its correctness.
        let key_of =
            |(x, y): (f64, f64)| -> (i64, i64) { ((x / cell_size).floor() as i64, (y / cell_size).floor() as i64) };

        let mut cell_by_key: HashMap<(i64, i64), usize> = HashMap::new();
        let mut keys = Vec::new();
        let mut cells: Vec<Cell> = Vec::new();
        let mut placement = Vec::with_capacity(positions.len());
        for (index, position) in positions.into_iter().enumerate() {
            placement.push(position.map(|position| {
                let key = key_of(position);
                let cell = *cell_by_key.entry(key).or_insert_with(|| {
                    keys.push(key);
                    cells.push(Cell::default());
                    cells.len() - 1
                });
                cells[cell].members.push(Member { index, position });
                (cell, position)
            }));
        }
        for (cell, (column, row)) in keys.into_iter().enumerate() {
            // `checked_add` rather than saturating: a saturated cell must not be listed twice.
            let around: Vec<usize> = CELL_AND_NEIGHBOURS
                .iter()
                .filter_map(|&(dx, dy)| cell_by_key.get(&(column.checked_add(dx)?, row.checked_add(dy)?)).copied())
                .collect();
            cells[cell].reachable = around.iter().map(|&other| cells[other].members.len()).sum();
            cells[cell].around = around;
        }
        Self { eps_squared, cells, placement }
    }

    /// The points within `eps` of `here`, a position in `cell`, in no particular order.
    fn neighbours(&self, cell: usize, here: (f64, f64)) -> impl Iterator<Item = usize> + '_ {
        self.cells[cell]
            .around
            .iter()
            .flat_map(|&around| &self.cells[around].members)
            .filter(move |member| within(here, member.position, self.eps_squared))
            .map(|member| member.index)
    }

    /// Whether each input point is a core point. Cell by cell rather than in input order, so that
    /// points near each other are also read near each other in memory.
    pub(super) fn core_points(&self, min_points: usize) -> Vec<bool> {
        let mut is_core = vec![false; self.placement.len()];
        for (cell, contents) in self.cells.iter().enumerate() {
            if contents.reachable < min_points {
                continue;
            }
            for member in &contents.members {
                is_core[member.index] = self.neighbours(cell, member.position).take(min_points).count() == min_points;
            }
        }
        is_core
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn neighbours_in_adjacent_cells_are_found() {
        let eps = 10.0;
        let cell = eps * CELL_SIZE_MARGIN;
        // Pairs 0.2 m apart across a vertical edge, a horizontal edge and a corner of a cell,
        // and a pair almost eps apart in adjacent cells.
        let positions = vec![
            Some((cell - 0.1, 5.0)),
            Some((cell + 0.1, 5.0)),
            Some((-5.0, -0.1)),
            Some((-5.0, 0.1)),
            Some((-cell - 0.1, cell - 0.1)),
            Some((-cell + 0.1, cell + 0.1)),
            Some((2.0 * cell - 0.5, -20.0)),
            Some((2.0 * cell + 9.4, -20.0)),
        ];
        let grid = Grid::new(positions, Params { eps_m: eps, min_points: 1 });

        for (a, b) in [(0, 1), (2, 3), (4, 5), (6, 7)] {
            assert_ne!(grid.placement[a].unwrap().0, grid.placement[b].unwrap().0);
            let (cell, here) = grid.placement[a].unwrap();
            let found: BTreeSet<usize> = grid.neighbours(cell, here).collect();
            assert_eq!(found, BTreeSet::from([a, b]), "neighbours of {a}");
        }
    }
}
