//! A judgement: one property's verdict on one run, with its detail. The type every oracle of this folder
//! returns; it judges nothing itself.

use crate::model::property::{Property, Verdict};

/// One property's verdict on one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Which property.
    pub property: Property,
    /// What it came to.
    pub verdict: Verdict,
    /// Why: for a failure the first thing that broke it, located; otherwise a short summary.
    pub detail: String,
}

impl Judgement {
    pub(super) fn pass(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Pass, detail: detail.into() }
    }
    pub(super) fn fail(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Fail, detail: detail.into() }
    }
    pub(super) fn skip(property: Property, detail: impl Into<String>) -> Self {
        Judgement { property, verdict: Verdict::Skip, detail: detail.into() }
    }
}
