//! The mutant × scenario matrix: which scenario of the suite catches which planted bug, and by which property.
//! Where the catalogue stops at a mutant's first catch, the matrix runs every pair once (each scenario's first
//! seed), so a reader sees which scenarios guard a bug and which bugs only one scenario stands between.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::hunt::mutants::Mutant;
use crate::hunt::run::run_once;
use crate::model::property::Verdict;
use crate::model::scenario::Scenario;

/// The matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// The columns: scenario names, in suite order.
    pub scenarios: Vec<String>,
    /// One row per mutant, in catalogue order.
    pub rows: Vec<MatrixRow>,
}

/// One mutant against every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixRow {
    /// The mutant's name.
    pub mutant: String,
    /// Per scenario (aligned with [`Matrix::scenarios`]): the first property that failed (the scenario catches
    /// the bug), `""` when every property held, or `"n/a"` when the mutant cannot run the scenario.
    pub cells: Vec<String>,
}

impl MatrixRow {
    /// Scenarios that catch the mutant.
    pub fn catches(&self) -> usize {
        self.cells.iter().filter(|c| !c.is_empty() && *c != "n/a").count()
    }
}

/// Runs every mutant against every scenario once (its first seed), on `jobs` threads.
pub fn matrix(scenarios: &[Scenario], mutants: &[Mutant], jobs: usize) -> Matrix {
    let pairs = mutants.len() * scenarios.len();
    let cells: Mutex<Vec<String>> = Mutex::new(vec![String::new(); pairs]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pairs {
                    break;
                }
                let (mutant, scenario) = (&mutants[i / scenarios.len()], &scenarios[i % scenarios.len()]);
                let cell = match (mutant.target.unsupported(scenario), scenario.seeds.first()) {
                    (Some(_), _) | (_, None) => "n/a".to_string(),
                    (None, Some(&seed)) => {
                        let (_, judgements) = run_once(scenario, seed, &mutant.target);
                        judgements
                            .iter()
                            .find(|j| j.verdict == Verdict::Fail)
                            .map_or(String::new(), |j| j.property.name().to_string())
                    }
                };
                cells.lock().expect("matrix lock")[i] = cell;
            });
        }
    });
    let mut cells = cells.into_inner().expect("matrix lock").into_iter();
    Matrix {
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        rows: mutants
            .iter()
            .map(|m| MatrixRow { mutant: m.name.clone(), cells: cells.by_ref().take(scenarios.len()).collect() })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hunt::mutants;

    #[test]
    fn the_matrix_marks_the_scenarios_that_catch_a_bug() {
        let suite = Scenario::suite();
        let scenarios: Vec<Scenario> =
            suite.into_iter().filter(|s| ["echo_three_clients", "empty_messages"].contains(&s.name.as_str())).collect();
        assert_eq!(scenarios.len(), 2, "the suite ships echo_three_clients and empty_messages");
        let chosen: Vec<Mutant> =
            mutants::all().into_iter().filter(|m| m.name == "unicode_upper" || m.name == "single_client").collect();
        let m = matrix(&scenarios, &chosen, 2);
        assert_eq!(m.scenarios, ["echo_three_clients", "empty_messages"]);
        assert_eq!(m.rows.len(), 2);
        for row in &m.rows {
            assert_eq!(row.cells.len(), 2);
        }
        let single = m.rows.iter().find(|r| r.mutant == "single_client").expect("row");
        assert!(single.catches() >= 1, "a server that serves one client is caught by a scenario with two: {single:?}");
    }
}
