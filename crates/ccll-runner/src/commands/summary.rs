//! Text renderings of results for the terminal.

use ccll_results::RunResult;

/// The accuracy matrix as an aligned table: rows "after task i", columns tasks.
pub fn matrix_table(r: &RunResult) -> String {
    let n = r.tasks.len();
    let mut out = format!("{:>12}", "after \\ task");
    for j in 0..n {
        out += &format!("{:>8}", j + 1);
    }
    for i in 0..r.acc_matrix.rows() {
        out += &format!("\n{:>12}", i + 1);
        for j in 0..n {
            match r.acc_matrix.get(i, j) {
                Some(a) => out += &format!("{a:>8.2}"),
                None => out += &format!("{:>8}", ""),
            }
        }
    }
    out
}
