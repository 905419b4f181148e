//! Shrinking a failing scenario: remove clients, faults and messages, shorten payloads and pipelines, as long
//! as the same property still fails under the same seed. What is left is the smallest story of the bug.

use crate::hunt::run::run_and_judge;
use crate::model::property::{Property, Verdict};
use crate::model::scenario::{Action, End, Payload, Scenario, Who};
use crate::sim::target::Target;

/// How big a scenario is, for reports: what a reader has to take in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Size {
    /// Clients.
    pub clients: usize,
    /// Messages, all clients together.
    pub messages: usize,
    /// Timeline faults.
    pub faults: usize,
    /// Payload bytes, all messages together (random payloads at their size).
    pub bytes: usize,
}

impl Size {
    /// Measures `scenario`.
    pub fn of(scenario: &Scenario) -> Size {
        Size {
            clients: scenario.clients.len(),
            messages: scenario.clients.iter().map(|c| c.messages.len()).sum(),
            faults: scenario.timeline.len(),
            bytes: scenario.clients.iter().flat_map(|c| &c.messages).map(Payload::len).sum(),
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} client{}, {} msg{}, {} fault{}, {} B",
            self.clients,
            s(self.clients),
            self.messages,
            s(self.messages),
            self.faults,
            s(self.faults),
            self.bytes
        )
    }
}

/// The result of shrinking.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest scenario found that still fails.
    pub scenario: Scenario,
    /// Simulations spent.
    pub runs: usize,
}

/// Shrinks `scenario` while `property` still fails under `seed` against `target`, spending at most `max_runs`
/// simulations (each candidate costs two: determinism is judged too).
pub fn shrink(scenario: &Scenario, seed: u64, target: &Target, property: Property, max_runs: usize) -> Shrunk {
    let fails = |s: &Scenario| {
        let (_, judgements) = run_and_judge(s, seed, target);
        judgements.iter().any(|j| j.property == property && j.verdict == Verdict::Fail)
    };
    let mut best = scenario.clone();
    let mut runs = 0;
    'progress: loop {
        for candidate in candidates(&best).into_iter().filter(Scenario::is_consistent) {
            if runs + 2 > max_runs {
                break 'progress;
            }
            runs += 2;
            if fails(&candidate) {
                best = candidate;
                continue 'progress;
            }
        }
        break;
    }
    Shrunk { scenario: best, runs }
}

/// Every one-step simplification of `s`, biggest steps first.
fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    for i in (0..s.clients.len()).rev() {
        if s.clients.len() > 1 {
            out.push(without_client(s, i));
        }
    }
    for i in (0..s.timeline.len()).rev() {
        let mut c = s.clone();
        c.timeline.remove(i);
        out.push(c);
    }
    for (i, client) in s.clients.iter().enumerate() {
        // Drop the second half of its messages, then single messages from the end.
        let keep_at_least = match client.end {
            End::Reset | End::DieMidMessage => client.end_after + 1,
            End::Fin => client.end_after,
            _ => 1,
        };
        let n = client.messages.len();
        let mut keeps = vec![1, n / 4, n / 2];
        keeps.dedup();
        for keep in keeps {
            if keep >= keep_at_least.max(1) && keep < n {
                out.push(with_messages(s, i, keep));
            }
        }
        if n > keep_at_least.max(1) {
            for j in (0..n).rev() {
                let mut c = s.clone();
                let spec = &mut c.clients[i];
                spec.messages.remove(j);
                if j < spec.end_after {
                    spec.end_after -= 1;
                }
                if !spec.misbehaves() {
                    spec.end_after = spec.messages.len();
                }
                out.push(c);
            }
        }
        for (j, m) in client.messages.iter().enumerate() {
            if let Payload::Random(size) = m {
                if *size > 1 {
                    let mut c = s.clone();
                    c.clients[i].messages[j] = Payload::Random(size / 2);
                    out.push(c);
                }
            }
        }
        if client.pipeline > 1 {
            let mut c = s.clone();
            c.clients[i].pipeline = 1;
            out.push(c);
        }
    }
    out
}

fn with_messages(s: &Scenario, client: usize, keep: usize) -> Scenario {
    let mut c = s.clone();
    let spec = &mut c.clients[client];
    spec.messages.truncate(keep);
    spec.end_after = if spec.misbehaves() { spec.end_after.min(keep) } else { keep };
    c
}

/// `s` without client `i`; later clients move down one index (and one name).
fn without_client(s: &Scenario, i: usize) -> Scenario {
    let mut c = s.clone();
    c.clients.remove(i);
    for (k, client) in c.clients.iter_mut().enumerate() {
        client.name = format!("client-{k}");
    }
    let renumber = |who: &Who| match who {
        Who::All => Who::All,
        Who::Clients(list) => {
            Who::Clients(list.iter().filter(|&&k| k != i).map(|&k| if k > i { k - 1 } else { k }).collect())
        }
    };
    c.timeline.retain_mut(|fault| {
        fault.action = match &fault.action {
            Action::Partition(w, d) => Action::Partition(renumber(w), *d),
            Action::Repair(w, d) => Action::Repair(renumber(w), *d),
            Action::Hold(w) => Action::Hold(renumber(w)),
            Action::Release(w) => Action::Release(renumber(w)),
            Action::Latency(w, d) => Action::Latency(renumber(w), *d),
            other => other.clone(),
        };
        // A network fault that no longer touches anyone is dropped.
        !matches!(
            &fault.action,
            Action::Partition(Who::Clients(l), _)
                | Action::Repair(Who::Clients(l), _)
                | Action::Hold(Who::Clients(l))
                | Action::Release(Who::Clients(l))
                | Action::Latency(Who::Clients(l), _) if l.is_empty()
        )
    });
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn shrinking_keeps_the_failure_and_makes_it_smaller() {
        let text = concat!(
            "seeds = [1]\n[network]\nlatency_ms = [1, 5]\n",
            "[[clients]]\ncount = 3\nrounds = 3\nmessages = [{ text = \"hello\" }, { random = 64 }]\n"
        );
        let s = Scenario::parse(Path::new("t.toml"), text).unwrap();
        let target = crate::hunt::mutants::find("unicode_upper").unwrap().target;
        let before = Size::of(&s);
        let shrunk = shrink(&s, 1, &target, Property::EchoIntegrity, 400);
        let after = Size::of(&shrunk.scenario);
        assert_eq!(before, Size { clients: 3, messages: 18, faults: 0, bytes: 3 * 3 * 69 });
        assert_eq!(after.clients, 1, "{after}");
        assert_eq!(after.messages, 1, "{after}");
        assert!(after.bytes <= 5, "{after}: one small message is enough to show the bug");
        let (_, judgements) = run_and_judge(&shrunk.scenario, 1, &target);
        assert!(judgements.iter().any(|j| j.property == Property::EchoIntegrity && j.verdict == Verdict::Fail));
    }

    #[test]
    fn removing_a_client_renumbers_the_timeline() {
        let text = concat!(
            "seeds = [1]\n[[clients]]\ncount = 3\nmessages = [{ text = \"a\" }]\n",
            "[[timeline]]\nat_ms = 5\naction = \"hold\"\nclients = [\"client-0\", \"client-2\"]\n",
            "[[timeline]]\nat_ms = 6\naction = \"release\"\nclients = [\"client-1\"]\n"
        );
        let s = Scenario::parse(Path::new("t.toml"), text).unwrap();
        let c = without_client(&s, 1);
        assert_eq!(c.clients[1].name, "client-1");
        assert_eq!(c.timeline.len(), 1, "the release touched only the removed client");
        assert_eq!(c.timeline[0].action, Action::Hold(Who::Clients(vec![0, 1])));
    }
}
