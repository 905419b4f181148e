//! The hunts: the scenario suite (`check`), replaying one run (`replay`), failing twins (`twins`), the catalogue of planted bugs (`mutants`)
//! and its mutation score (`catalogue`), generated scenarios (`generate`, run by `explore`) and the shrinker (`shrink`). They drive
//! the runners and the judge; they print nothing (the reporters and the binary do), except `replay`, which a user's test calls to see a run.

pub mod catalogue;
pub mod check;
pub mod explore;
pub mod explore_real;
pub mod generate;
pub mod matrix;
pub mod mutants;
pub mod replay;
pub mod run;
pub mod shrink;
pub mod twins;
