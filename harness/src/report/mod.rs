//! Reporters: the combined [`check_report::CheckReport`] and pure functions from it to text (terminal table,
//! JSON, Markdown, JUnit XML). [`results`] gathers the latest check, exploration and benchmark figures into one
//! versioned document, drawn by [`html`] (`index.html`) and [`report_md`] (`REPORT.md`) with the charts of
//! [`charts`] and each failure's [`timeline`], rendered as SVG by [`svg`]; [`gate`] compares benchmark figures
//! with a saved baseline. [`explore_results`] is the document of an exploration (`explore.json`) and merges
//! the documents of a run's shards. Nothing here runs or judges.

pub mod charts;
pub mod check_report;
pub mod explore_results;
pub mod gate;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod report_md;
pub mod results;
pub mod svg;
pub mod table;
pub mod timeline;

#[cfg(test)]
mod tests;
