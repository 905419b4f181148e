//! Reporters: the combined [`check_report::CheckReport`] and pure functions from it to text (terminal table,
//! JSON, Markdown, JUnit XML). Nothing here runs or judges.

pub mod check_report;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod table;

#[cfg(test)]
mod tests;
