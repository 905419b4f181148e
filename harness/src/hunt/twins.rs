//! Failing twins: each scenario's proof that it can catch what it is about. A twin names a planted bug from the
//! catalogue ([`super::mutants`]) or a patch, and the property that must then fail. Loading a suite here also
//! checks that every twin's mutant exists, which the scenario layer cannot know.

use std::path::Path;

use crate::judge::judgement::Judgement;
use crate::model::property::{Property, Verdict};
use crate::model::scenario::{Scenario, ScenarioError, Twin};
use crate::sim::target::Target;

use super::mutants;
use super::run::run_and_judge;

/// Loads and validates one scenario file, its twins' mutants included.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let scenario = Scenario::load(path)?;
    check_mutants(&scenario)?;
    Ok(scenario)
}

/// Loads every `*.toml` file of a directory, sorted by name, as [`Scenario::load_dir`] does, and checks that
/// every twin's mutant is in the catalogue.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let scenarios = Scenario::load_dir(dir)?;
    scenarios.iter().try_for_each(check_mutants)?;
    Ok(scenarios)
}

/// Fails, located at the name, on a twin whose mutant the catalogue does not have.
pub fn check_mutants(scenario: &Scenario) -> Result<(), ScenarioError> {
    for twin in &scenario.twins {
        let Some(name) = &twin.mutant else { continue };
        if mutants::find(name).is_none() {
            let names: Vec<String> = mutants::all().into_iter().map(|m| m.name).collect();
            let (line, column) = twin.mutant_at.unwrap_or((1, 1));
            return Err(ScenarioError::Invalid {
                path: scenario.path.clone(),
                line,
                column,
                message: format!("no mutant is called \"{name}\" (known: {})", names.join(", ")),
            });
        }
    }
    Ok(())
}

/// What a failing twin came to.
#[derive(Debug, Clone)]
pub struct TwinOutcome {
    /// The seed and judgement of the first run in which the expected property failed, if one did.
    pub caught: Option<(u64, Judgement)>,
    /// Every property that failed in any run, for the message when the expected one did not.
    pub failed: Vec<Property>,
    /// Runs made.
    pub runs: usize,
}

/// Runs a scenario's failing twin under the scenario's seeds until its expected property fails.
pub fn run_twin(twin: &Twin) -> TwinOutcome {
    let target = match &twin.mutant {
        Some(name) => mutants::find(name).expect("twin mutants are checked by twins::load").target,
        None => Target::builtin(),
    };
    let mut failed = Vec::new();
    let mut runs = 0;
    for &seed in &twin.scenario.seeds {
        let (_, judgements) = run_and_judge(&twin.scenario, seed, &target);
        runs += 2;
        for j in judgements {
            if j.verdict != Verdict::Fail {
                continue;
            }
            if j.property == twin.fails {
                return TwinOutcome { caught: Some((seed, j)), failed, runs };
            }
            if !failed.contains(&j.property) {
                failed.push(j.property);
            }
        }
    }
    TwinOutcome { caught: None, failed, runs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twin_naming_no_mutant_is_an_error_located_at_the_name() {
        let text = "seeds = [1]\n[[clients]]\nmessages = [{ text = \"a\" }]\n[[twins]]\nmutant = \"nope\"\nfails = \"liveness\"\n";
        let scenario = Scenario::parse(Path::new("scenarios/t.toml"), text).unwrap();
        let err = check_mutants(&scenario).unwrap_err().to_string();
        assert!(err.starts_with("scenarios/t.toml:5:10: no mutant is called \"nope\""), "{err}");
        assert!(err.contains("partial_send"), "the error lists the known mutants: {err}");
        let known = text.replace("nope", "serial");
        check_mutants(&Scenario::parse(Path::new("scenarios/t.toml"), &known).unwrap()).unwrap();
    }
}
