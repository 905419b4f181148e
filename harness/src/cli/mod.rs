//! The command-line layer: one module per subcommand, each owning its flags (a clap `Args` struct) and a `run`
//! that resolves them into library calls and an exit code; `shared` holds what several of them need. It sits
//! above every library stage and is the only place that prints.

pub mod check;
pub mod dirs;
pub mod explore;
pub mod explore_out;
pub mod explore_real;
pub mod finish;
pub mod load;
pub mod mutants;
pub mod report;
pub mod run;
pub mod serve;
pub mod shared;
