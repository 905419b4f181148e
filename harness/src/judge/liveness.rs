//! liveness: every well-behaved client finishes; nothing stalls or fails on a healthy link with a live server.

use std::fmt::Write;
use std::time::Duration;

use crate::model::property::Property;
use crate::model::scenario::Expect;
use crate::model::trace::{Event, Run};

use super::judgement::Judgement;
use super::view::{secs, View};

pub(super) fn liveness(view: &View) -> Judgement {
    let run = view.run;
    if let Some((at, reason)) = run.records.iter().find_map(|r| match &r.event {
        Event::RunFailed { reason } => Some((r.at, reason)),
        _ => None,
    }) {
        let busy = clients_not_done(run);
        return Judgement::fail(Property::Liveness, format!("at {}: {reason}; clients still busy: {busy}", secs(at)));
    }
    let io_timeout = view.scenario.limits.io_timeout;
    let mut excused = Vec::new();
    let mut excused_clients = Vec::new();
    for record in &run.records {
        let at = record.at;
        // A wait that timed out (a stalled exchange or handshake) may be the scenario's delay; an error may not.
        let stalled = matches!(&record.event, Event::Exchange { error: Some(e), .. } | Event::Closed { error: Some(e), .. } | Event::IdleClosed { how: e, .. } if e == "stalled")
            || matches!(&record.event, Event::ConnectFailed { error, .. } if error == "connect-timeout");
        let (client, failure, window, opened) = match &record.event {
            Event::Exchange { client, conn, error: Some(error), .. }
            | Event::Closed { client, conn, error: Some(error), .. }
                if error != "stalled"
                    && view.scenario.server.config.idle_timeout.is_some()
                    && view.server_closed(*conn).is_some() =>
            {
                match closed_by_policy(view, *conn, *client) {
                    Ok(explained) => {
                        excused.push(explained);
                        excused_clients.push(*client);
                        continue;
                    }
                    // Too soon for the policy: unless a cut given up or a kill explains it, the server's fault.
                    Err(failure) => (*client, format!("{failure} ({error})"), at, Some(view.opened_at(*conn))),
                }
            }
            Event::Exchange { client, conn, error: Some(error), sent, received, .. } => {
                let from = if error == "stalled" { at.saturating_sub(io_timeout) } else { at };
                let failure = if error == "stalled" {
                    format!(
                        "connection {conn} (client-{client}) stalled at byte {} of {} since {}",
                        received.len(),
                        sent.len(),
                        secs(from)
                    )
                } else {
                    format!(
                        "connection {conn} (client-{client}) failed ({error}) at byte {} of {}",
                        received.len(),
                        sent.len()
                    )
                };
                // A connection given up is dead: it may stall, or fail (`timed-out`) when it is next used, long
                // after the give-up, so any cut given up during the connection's life explains it.
                let window = if error == "stalled" || error == "timed-out" { view.opened_at(*conn) } else { from };
                (*client, failure, window, Some(view.opened_at(*conn)))
            }
            Event::ConnectFailed { client, error, waited } => {
                if view.scenario.clients[*client].expect == Expect::Refused {
                    continue; // the refusal oracle's business
                }
                (*client, format!("client-{client}'s connect failed ({error})"), at.saturating_sub(*waited), None)
            }
            Event::IdleClosed { client, conn, quiet_since, how, .. } => {
                let failure = match view.server_closed(*conn).filter(|_| how != "stalled") {
                    // The server's own record of the close says how long it had heard nothing.
                    Some(_) => closed_by_policy(view, *conn, *client),
                    None => idle_closed(view, *conn, *client, at.saturating_sub(*quiet_since), how),
                };
                let failure = match failure {
                    Ok(explained) => {
                        excused.push(explained);
                        continue;
                    }
                    Err(failure) => failure,
                };
                let window = if stalled || how == "timed-out" { view.opened_at(*conn) } else { *quiet_since };
                (*client, failure, window, Some(view.opened_at(*conn)))
            }
            Event::Closed { client, conn, error: Some(error), .. } => (
                *client,
                format!("connection {conn} (client-{client}) did not close cleanly ({error})"),
                if error == "stalled" || error == "timed-out" { view.opened_at(*conn) } else { at },
                Some(view.opened_at(*conn)),
            ),
            _ => continue,
        };
        let restarting = matches!(&record.event, Event::ConnectFailed { error, .. } if error == "refused")
            .then(|| view.restarting(window, at))
            .flatten();
        match restarting.or_else(|| view.excuse(client, opened, window, at, stalled)) {
            Some(reason) => {
                excused.push(format!("{failure}: {reason}"));
                excused_clients.push(client);
            }
            None => {
                let hint = match &record.event {
                    Event::Exchange { conn, .. } | Event::Closed { conn, .. } => undeclared(view, *conn),
                    _ => String::new(),
                };
                return Judgement::fail(
                    Property::Liveness,
                    format!("{failure} at {} on a healthy link with a live server{hint}", secs(at)),
                );
            }
        }
    }
    for record in &run.records {
        if let Event::ClientDone { client, answered, of } = record.event {
            // Giving up is fine only for a client the scenario cut off (its failures were all excused).
            if answered < of && !excused_clients.contains(&client) {
                let last = last_error(run, client).unwrap_or_else(|| "no error recorded".into());
                return Judgement::fail(
                    Property::Liveness,
                    format!(
                        "client-{client} gave up at {} with {answered} of {of} messages answered: {last}",
                        secs(record.at)
                    ),
                );
            }
        }
    }
    let end = run.records.last().map_or(Duration::ZERO, |r| r.at);
    let mut detail = format!("every client finished by {}", secs(end));
    if let Some(first) = excused.first() {
        let _ =
            write!(detail, "; {} failures excused (cut links, restarts, idle timeouts), e.g. {first}", excused.len());
    }
    Judgement::pass(Property::Liveness, detail)
}

/// Whether the server's close of connection `conn` before its client closed it (recorded on the server's side)
/// is its idle policy at work: a close after at least the idle timeout without progress (no byte read or
/// written) is (the excuse, as evidence); one sooner, or one by a server that declares no idle timeout, is a
/// failure (with a hint to declare the timeout when it is one).
fn closed_by_policy(view: &View, conn: usize, client: usize) -> Result<String, String> {
    let Some((at, quiet)) = view.server_closed(conn) else {
        return Err(format!("connection {conn} (client-{client}) failed"));
    };
    let quiet_ms = quiet.as_millis();
    match view.scenario.server.config.idle_timeout {
        Some(t) if view.closed_idle(conn) => Ok(format!(
            "connection {conn} (client-{client}) closed by the server at {} after {quiet_ms} ms without progress (no byte read or written): the idle timeout of {} ms",
            secs(at),
            t.as_millis()
        )),
        Some(t) => Err(format!(
            "the server closed connection {conn} (client-{client}) at {} after only {quiet_ms} ms without progress (no byte read or written), sooner than its idle timeout of {} ms",
            secs(at),
            t.as_millis()
        )),
        None => Err(format!("connection {conn} (client-{client}) failed{}", undeclared(view, conn))),
    }
}

/// For a server judged without an idle timeout: what its side says of a close that looks like one (it closed
/// first after reading nothing for a while), with how to declare it.
fn undeclared(view: &View, conn: usize) -> String {
    if view.scenario.server.config.idle_timeout.is_some() {
        return String::new();
    }
    match view.server_closed(conn) {
        Some((at, quiet)) if quiet >= UNDECLARED_HINT => format!(
            "; the server closed it at {} after {} ms without progress (no byte read or written): if that is an \
             idle timeout, declare it (Target::idle_timeout, or [server] idle_timeout_ms for a server that takes settings)",
            secs(at),
            quiet.as_millis()
        ),
        _ => String::new(),
    }
}

/// How long a server must have read nothing before closing for its close to look like an idle timeout.
const UNDECLARED_HINT: Duration = Duration::from_millis(100);

/// The excuse the scenario's `[server] idle_timeout_ms` gives a close of a connection whose client went quiet on
/// purpose: only a close at least that long after the client's last progress (`quiet`) is the idle timeout's.
/// A quiet client still open when it gave up, or one closed sooner, is a failure (unless a cut or a kill explains
/// it, which the caller asks next).
fn idle_closed(view: &View, conn: usize, client: usize, quiet: Duration, how: &str) -> Result<String, String> {
    let idle = view.scenario.server.config.idle_timeout;
    // Set in `[server]` or declared by the target (see `Target::judged_as`): the same policy.
    let setting = match idle {
        Some(t) => format!("idle timeout {} ms", t.as_millis()),
        None => "no idle timeout".to_string(),
    };
    let quiet_ms = quiet.as_millis();
    match idle {
        _ if how == "stalled" => Err(format!(
            "connection {conn} (client-{client}) was still open after {quiet_ms}ms without progress from its client ({setting})"
        )),
        Some(t) if quiet >= t => Ok(format!(
            "connection {conn} (client-{client}) closed ({how}) after {quiet_ms}ms without progress: the idle timeout ({setting})"
        )),
        _ => Err(format!(
            "the server closed connection {conn} (client-{client}) ({how}) after only {quiet_ms}ms without progress from its client ({setting})"
        )),
    }
}

pub(super) fn clients_not_done(run: &Run) -> String {
    let mut seen = Vec::new();
    let mut done = Vec::new();
    for r in &run.records {
        match r.event {
            Event::Connected { client, .. } | Event::ConnectFailed { client, .. } | Event::Exchange { client, .. }
                if !seen.contains(&client) =>
            {
                seen.push(client)
            }
            Event::ClientDone { client, .. } => done.push(client),
            _ => {}
        }
    }
    let busy: Vec<String> = seen.iter().filter(|c| !done.contains(c)).map(|c| format!("client-{c}")).collect();
    if busy.is_empty() {
        "none".into()
    } else {
        busy.join(", ")
    }
}

pub(super) fn last_error(run: &Run, who: usize) -> Option<String> {
    run.records.iter().rev().find_map(|r| match &r.event {
        Event::Exchange { client, conn, message, error: Some(e), received, .. } if *client == who => {
            Some(format!("msg {message} on conn {conn} failed ({e}) after {} reply bytes", received.len()))
        }
        Event::ConnectFailed { client, error, .. } if *client == who => Some(format!("connect failed ({error})")),
        _ => None,
    })
}
