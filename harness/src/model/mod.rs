//! What a run is made of: scenarios (types, the file format and its validation), the fault model's stream
//! shaping, the scenario clients' scripts, the events a run records, and the property and verdict names. Data
//! and the clients' programs only: nothing here runs a simulation, judges a run or prints a report.

pub mod faults;
pub mod property;
pub mod replay;
pub mod scenario;
pub mod script;
pub mod trace;
pub mod transform;
