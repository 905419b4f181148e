//! Shrinking a failing scenario: remove clients, faults and messages, shorten payloads and pipelines, as long
//! as the same property still fails under the same seed. What is left is the smallest story of the bug.

use std::time::Duration;

use crate::hunt::run::{run_and_judge, run_once};
use crate::model::property::{Property, Verdict};
use crate::model::scenario::{Action, ClientSpec, End, Payload, Scenario, Who};
use crate::sim::target::Target;

/// How big a scenario is, for reports: what a reader has to take in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// The simulated time a shrink may spend, all candidates together: a candidate that fails by running into its
/// deadline costs a whole deadline, so counting runs alone would let a slow scenario take many seconds. Counted
/// in simulated time, the bound is the same on every machine and the result stays reproducible.
pub const SIMULATED_BUDGET: Duration = Duration::from_secs(120);

/// Shrinks `scenario` while `property` still fails under `seed` against `target`, spending at most `max_runs`
/// simulations (a candidate costs one, or two when the property is determinism) and [`SIMULATED_BUDGET`], by
/// [`shrink_by`].
pub fn shrink(scenario: &Scenario, seed: u64, target: &Target, property: Property, max_runs: usize) -> Shrunk {
    let mut runs = 0;
    let cost = if property == Property::Determinism { 2 } else { 1 };
    let mut simulated = Duration::ZERO;
    let mut fails = |s: &Scenario| -> Option<bool> {
        if runs + cost > max_runs || simulated > SIMULATED_BUDGET {
            return None; // out of budget
        }
        runs += cost;
        let (run, judgements) =
            if property == Property::Determinism { run_and_judge(s, seed, target) } else { run_once(s, seed, target) };
        simulated += run.records.last().map_or(Duration::ZERO, |r| r.at) * cost as u32;
        Some(judgements.iter().any(|j| j.property == property && j.verdict == Verdict::Fail))
    };
    let scenario = shrink_by(scenario, &mut fails);
    Shrunk { scenario, runs }
}

/// The shrinking itself, for any way of telling whether a candidate still fails: `fails` answers `Some(true)`
/// (it still fails: keep it), `Some(false)` (it does not) or `None` (the budget is spent: stop with the best so
/// far). The simulator's [`shrink`] runs a candidate once; on real sockets a candidate counts as failing only
/// when every confirming re-run fails too.
///
/// Two passes, repeated until neither changes anything (a fixpoint): greedy one-step simplifications, biggest
/// first (a client, a fault, blocks of messages, shaping, pipelining), each kept as soon as it still fails; then
/// every payload cut to the smallest size that still fails, by bisection.
pub fn shrink_by(scenario: &Scenario, mut fails: impl FnMut(&Scenario) -> Option<bool>) -> Scenario {
    let mut best = scenario.clone();
    'fixpoint: loop {
        let mut changed = false;
        'greedy: loop {
            for candidate in candidates(&best).into_iter().filter(Scenario::is_consistent) {
                match fails(&candidate) {
                    None => break 'fixpoint,
                    Some(true) => {
                        best = candidate;
                        changed = true;
                        continue 'greedy;
                    }
                    Some(false) => {}
                }
            }
            break;
        }
        for (i, j) in payloads(&best) {
            // Bisect the size: `lo` does not fail (or is 0), `hi` does.
            let (mut lo, mut hi) = (0, best.clients[i].messages[j].len());
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let candidate = with_payload_len(&best, i, j, mid);
                match fails(&candidate) {
                    None => break 'fixpoint,
                    Some(true) => {
                        best = candidate;
                        hi = mid;
                        changed = true;
                    }
                    Some(false) => lo = mid,
                }
            }
        }
        if !changed {
            break;
        }
    }
    best
}

/// A one-step simplification of a client.
type Simplify = fn(&mut ClientSpec);

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
        // Keep only the first message, then remove blocks of messages, halves first, down to single ones.
        // At least one message stays; a rude ending keeps its shape on fewer messages (see `fit_end`).
        let keep_at_least = 1;
        let n = client.messages.len();
        if n > keep_at_least {
            out.push(with_messages(s, i, keep_at_least));
            // Messages that only served as a clock (keeping the client busy until a fault) become a late start.
            let mut times: Vec<_> = s.timeline.iter().map(|f| f.at).filter(|&t| t > client.start).collect();
            times.dedup();
            for t in times {
                let mut c = with_messages(s, i, keep_at_least);
                c.clients[i].start = t + std::time::Duration::from_millis(10);
                out.push(c);
            }
            let mut block = n / 2;
            while block >= 1 {
                for start in (0..n).step_by(block).rev() {
                    let end = (start + block).min(n);
                    if n - (end - start) >= keep_at_least {
                        out.push(without_messages(s, i, start..end));
                    }
                }
                block /= 2;
            }
        }
        // A plain ending instead of a rude one or a half-close.
        if client.end != End::Close {
            let mut c = s.clone();
            c.clients[i].end = End::Close;
            fit_end(&mut c.clients[i]);
            out.push(c);
        }
        // Simpler conversations: no pipelining, no 0-byte writes, an immediate start, no shaping.
        let simpler: [(bool, Simplify); 7] = [
            (client.pipeline > 1, |c| c.pipeline = 1),
            (client.zero_writes, |c| c.zero_writes = false),
            (!client.start.is_zero(), |c| c.start = Default::default()),
            (client.shaping.write_chunk.is_some(), |c| c.shaping.write_chunk = None),
            (client.shaping.read_chunk.is_some(), |c| c.shaping.read_chunk = None),
            (client.shaping.read_pause.is_some(), |c| c.shaping.read_pause = None),
            (client.shaping.write_pause.is_some(), |c| c.shaping.write_pause = None),
        ];
        for (applies, simplify) in simpler {
            if applies {
                let mut c = s.clone();
                simplify(&mut c.clients[i]);
                out.push(c);
            }
        }
    }
    if s.server.shaping != Default::default() {
        let mut c = s.clone();
        c.server.shaping = Default::default();
        out.push(c);
    }
    out
}

/// Every payload longer than one byte, as (client, message).
fn payloads(s: &Scenario) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, client) in s.clients.iter().enumerate() {
        for (j, m) in client.messages.iter().enumerate() {
            if m.len() > 1 {
                out.push((i, j));
            }
        }
    }
    out
}

/// `s` with message `j` of client `i` cut to its first `len` bytes (text stays valid UTF-8: it is cut at the
/// last character boundary at or before `len`, but keeps at least one character).
fn with_payload_len(s: &Scenario, i: usize, j: usize, len: usize) -> Scenario {
    let mut c = s.clone();
    let m = &mut c.clients[i].messages[j];
    *m = match m {
        Payload::Random(_) => Payload::Random(len),
        Payload::Bytes(b) => Payload::Bytes(b[..len.min(b.len())].to_vec()),
        Payload::Text(t) => {
            let mut cut = len.min(t.len());
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                cut = t.chars().next().map_or(0, char::len_utf8);
            }
            Payload::Text(t[..cut].to_string())
        }
    };
    c
}

/// `s` without messages `range` of client `i`.
fn without_messages(s: &Scenario, i: usize, range: std::ops::Range<usize>) -> Scenario {
    let mut c = s.clone();
    let spec = &mut c.clients[i];
    let removed_before_end = range.clone().filter(|&k| k < spec.end_after).count();
    spec.messages.drain(range);
    spec.end_after -= removed_before_end.min(spec.end_after);
    fit_end(spec);
    c
}

/// `s` with only the first `keep` messages of client `client`.
fn with_messages(s: &Scenario, client: usize, keep: usize) -> Scenario {
    let mut c = s.clone();
    c.clients[client].messages.truncate(keep);
    fit_end(&mut c.clients[client]);
    c
}

/// Makes a client's `end_after` fit its messages: a plain or half-closing client answers them all, a FIN comes
/// after at most all of them, and a reset or a death needs one message after `end_after` to happen in.
fn fit_end(spec: &mut ClientSpec) {
    let n = spec.messages.len();
    spec.end_after = match spec.end {
        End::Close | End::HalfClose => n,
        End::Fin => spec.end_after.min(n),
        End::Reset | End::DieMidMessage => spec.end_after.min(n.saturating_sub(1)),
    };
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
    fn payloads_shrink_to_the_smallest_size_that_still_fails() {
        // one_read_one_message loses what a second read would bring: with a 1024-byte buffer, 1025 bytes is the
        // smallest message that shows it; halving alone would stop at 1500 or so.
        let text = concat!(
            "seeds = [1]\n[server]\nbuffer = 1024\n",
            "[[clients]]\nmessages = [{ random = 3000 }, { text = \"abc\" }, { random = 700 }]\nend = \"die_mid_message\"\nend_after = 1\n",
        );
        let s = Scenario::parse(Path::new("t.toml"), text).unwrap();
        let target = crate::hunt::mutants::find("one_read_one_message").unwrap().target;
        let (_, before) = run_and_judge(&s, 1, &target);
        let property = before.iter().find(|j| j.verdict == Verdict::Fail).expect("the bug shows").property;
        let shrunk = shrink(&s, 1, &target, property, 400);
        let after = Size::of(&shrunk.scenario);
        // The death mid-message is not what shows the bug: a plain client with the one long message is left.
        assert_eq!(after.messages, 1, "{after}");
        assert_eq!(shrunk.scenario.clients[0].end, End::Close, "{after}");
        assert_eq!(shrunk.scenario.clients[0].messages[0], Payload::Random(1025), "{after}");
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
