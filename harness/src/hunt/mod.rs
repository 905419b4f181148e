//! The hunts: the scenario suite (`check`), failing twins (`twins`), the catalogue of planted bugs (`mutants`)
//! and its mutation score (`catalogue`), generated scenarios (`explore`) and the shrinker (`shrink`). They drive
//! the runners and the judge; they print nothing (the reporters and the binary do).

pub mod catalogue;
pub mod check;
pub mod explore;
pub mod mutants;
pub mod shrink;
pub mod twins;
