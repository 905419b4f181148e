//! The report `check` gives: the suite's tally with, beside it, the kernel checks and the catalogue's mutation
//! score when they ran. Assembled here, above the suite, the kernel checks and the catalogue, so that none of
//! them has to know the others; the reporters of this folder print it.

use serde::{Deserialize, Serialize};

use crate::hunt::catalogue::CatalogueReport;
use crate::judge::tally::SuiteReport;
use crate::model::property::Verdict;
use crate::real::kernel::KernelCheck;

/// Everything one `check` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The scenario suite's (or the black-box properties') verdicts, flattened into the document.
    #[serde(flatten)]
    pub suite: SuiteReport,
    /// The mutation score, when the catalogue was run.
    #[serde(default)]
    pub catalogue: Option<CatalogueReport>,
    /// The kernel checks on real sockets, when they were run.
    #[serde(default)]
    pub kernel: Vec<KernelCheck>,
}

impl CheckReport {
    /// A report of the suite alone.
    pub fn of(suite: SuiteReport) -> CheckReport {
        CheckReport { suite, catalogue: None, kernel: Vec::new() }
    }

    /// Every property held (or was skipped), every kernel check passed, and the catalogue (if run) held.
    pub fn held(&self) -> bool {
        self.suite.verdict != Verdict::Fail
            && self.kernel.iter().all(|k| k.verdict != Verdict::Fail)
            && self.catalogue.as_ref().is_none_or(|c| c.held())
    }
}
