//! Lower-triangular task matrices: entry (i, j) is a value for task j measured after training
//! task i, `None` where j > i (task j not seen yet).

use serde::{Deserialize, Serialize};

/// Row i holds the evaluation of every task after training task i; its length is the run's
/// task count, with `None` for tasks not seen yet. Rows exist only for finished tasks, so a
/// run that stopped early has fewer rows than columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct TaskMatrix(pub Vec<Vec<Option<f64>>>);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MatrixError {
    #[error("matrix row {row} has {got} entries, expected {expected} (one per task)")]
    RowLength {
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("matrix row {row} has a value for task {col}, which comes after it")]
    FutureTask { row: usize, col: usize },
    #[error("matrix row {row} lacks a value for task {col}, which it has seen")]
    MissingValue { row: usize, col: usize },
    #[error("matrix has {rows} rows but only {tasks} tasks")]
    TooManyRows { rows: usize, tasks: usize },
}

impl TaskMatrix {
    /// An empty matrix; rows are added as tasks finish ([`TaskMatrix::push_row`] pads each
    /// to the run's task count).
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends the row measured after the next task. `seen` holds the values of tasks
    /// 0..=i; the row is padded with `None` up to `tasks`.
    pub fn push_row(&mut self, seen: &[f64], tasks: usize) {
        let mut row: Vec<Option<f64>> = seen.iter().copied().map(Some).collect();
        row.resize(tasks, None);
        self.0.push(row);
    }

    /// Number of finished rows (tasks trained so far).
    pub fn rows(&self) -> usize {
        self.0.len()
    }

    /// Value for task `col` after task `row`, if both exist and col <= row.
    pub fn get(&self, row: usize, col: usize) -> Option<f64> {
        self.0.get(row)?.get(col).copied().flatten()
    }

    /// The values of row `row` for the tasks seen so far (0..=row).
    pub fn seen(&self, row: usize) -> Vec<f64> {
        (0..=row).filter_map(|j| self.get(row, j)).collect()
    }

    /// Checks the shape: square in the task count, values exactly on and below the diagonal.
    pub fn validate(&self, tasks: usize) -> Result<(), MatrixError> {
        if self.0.len() > tasks {
            return Err(MatrixError::TooManyRows {
                rows: self.0.len(),
                tasks,
            });
        }
        for (i, row) in self.0.iter().enumerate() {
            if row.len() != tasks {
                return Err(MatrixError::RowLength {
                    row: i,
                    got: row.len(),
                    expected: tasks,
                });
            }
            for (j, v) in row.iter().enumerate() {
                match (j <= i, v.is_some()) {
                    (true, false) => return Err(MatrixError::MissingValue { row: i, col: j }),
                    (false, true) => return Err(MatrixError::FutureTask { row: i, col: j }),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_row_pads_with_none_and_serialises_as_nulls() {
        let mut m = TaskMatrix::new();
        m.push_row(&[90.0], 3);
        m.push_row(&[90.0, 80.0], 3);
        assert_eq!(m.get(1, 1), Some(80.0));
        assert_eq!(m.get(0, 1), None);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            "[[90.0,null,null],[90.0,80.0,null]]"
        );
        m.validate(3).unwrap();
    }

    #[test]
    fn validate_rejects_values_above_the_diagonal() {
        let m = TaskMatrix(vec![vec![Some(1.0), Some(2.0)]]);
        assert_eq!(
            m.validate(2),
            Err(MatrixError::FutureTask { row: 0, col: 1 })
        );
        let m = TaskMatrix(vec![vec![None, None]]);
        assert_eq!(
            m.validate(2),
            Err(MatrixError::MissingValue { row: 0, col: 0 })
        );
        let m = TaskMatrix(vec![vec![Some(1.0)]]);
        assert!(matches!(m.validate(2), Err(MatrixError::RowLength { .. })));
    }
}
