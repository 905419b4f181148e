//! A real run's clock ([`Clock`]): the run's time, which stops while a fault of the timeline is applied and never
//! runs past a fault not yet applied, so that events are stamped as the simulator would stamp them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A real run's clock, from the start of the run. It runs with real time, except that it stops while a fault of
/// the timeline is applied (the simulator applies one in no time: a kill, a server's start), and it never passes
/// the time of the next fault before that fault is applied (on a busy machine a timer fires late): events
/// stamped meanwhile happened before the fault, and are stamped at its time.
#[derive(Clone)]
pub(super) struct Clock(Arc<Mutex<ClockState>>);

struct ClockState {
    /// When the run began.
    origin: tokio::time::Instant,
    /// Time spent stopped, before the current stop.
    stopped: Duration,
    /// When the current stop began, if the clock is stopped.
    since: Option<tokio::time::Instant>,
    /// The time of the next fault not yet applied: the clock does not pass it.
    until: Option<Duration>,
}

impl ClockState {
    /// Time elapsed since the origin, less the stops, ignoring `until`.
    fn running(&self) -> Duration {
        let stopped = self.stopped + self.since.map_or(Duration::ZERO, |s| s.elapsed());
        self.origin.elapsed().saturating_sub(stopped)
    }
}

impl Clock {
    /// A clock that starts now and waits at `first_fault`.
    pub(super) fn start(first_fault: Option<Duration>) -> Clock {
        let origin = tokio::time::Instant::now();
        Clock(Arc::new(Mutex::new(ClockState { origin, stopped: Duration::ZERO, since: None, until: first_fault })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run's time now.
    pub(super) fn now(&self) -> Duration {
        let state = self.state();
        let running = state.running();
        state.until.map_or(running, |u| running.min(u))
    }

    /// The instant at which the clock reaches `at`, if it does not stop before.
    fn instant_of(&self, at: Duration) -> tokio::time::Instant {
        let state = self.state();
        tokio::time::Instant::now() + at.saturating_sub(state.running())
    }

    /// Stops the clock at the fault's time `at` (reached, or passed by a late timer).
    pub(super) fn stop(&self, at: Duration) {
        let mut state = self.state();
        let late = state.running().saturating_sub(at);
        state.stopped += late;
        state.since = Some(tokio::time::Instant::now());
        state.until = Some(at);
    }

    /// Starts the clock again after a fault; it waits at `next_fault`.
    pub(super) fn resume(&self, next_fault: Option<Duration>) {
        let mut state = self.state();
        if let Some(since) = state.since.take() {
            state.stopped += since.elapsed();
        }
        state.until = next_fault;
    }

    /// Waits until the clock reaches `at` (however often it stops meanwhile) and every fault before `at` has been
    /// applied.
    pub(super) async fn reached(&self, at: Duration) {
        loop {
            let (running, until) = {
                let state = self.state();
                (state.running(), state.until)
            };
            if running < at {
                tokio::time::sleep_until(self.instant_of(at)).await;
            } else if until.is_some_and(|u| u < at) {
                tokio::time::sleep(Duration::from_millis(1)).await; // a fault before `at` is being applied
            } else {
                return;
            }
        }
    }
}
