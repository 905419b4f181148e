//! Writing a scenario back as a scenario file, so a generated or shrunk scenario can be saved and replayed.

use std::time::Duration;

use crate::model::faults::{Chunk, Shaping};

use super::types::*;

impl Scenario {
    /// The scenario as a scenario file (clients expanded one block each, repeats and rounds written out), so a
    /// generated or shrunk scenario can be saved, read and replayed. Loading the text gives back this scenario
    /// (twins aside).
    pub fn to_toml(&self) -> String {
        use toml::{Table, Value};
        let ms = |d: Duration| Value::Integer(d.as_millis() as i64);
        let int = |n: usize| Value::Integer(n as i64);
        let chunk = |c: Chunk| match c {
            Chunk::Fixed(k) => int(k),
            Chunk::Between(lo, hi) => Value::Array(vec![int(lo), int(hi)]),
        };
        let shaping = |t: &mut Table, s: &Shaping| {
            if let Some(c) = s.write_chunk {
                t.insert("write_chunk".into(), chunk(c));
            }
            if let Some(c) = s.read_chunk {
                t.insert("read_chunk".into(), chunk(c));
            }
            if let Some(p) = s.write_pause {
                t.insert("write_pause_ms".into(), ms(p));
            }
            if let Some(p) = s.read_pause {
                t.insert("read_pause_ms".into(), ms(p));
            }
        };
        let mut doc = Table::new();
        doc.insert("description".into(), Value::String(self.description.clone()));
        if self.backend == Backend::Real {
            doc.insert("backend".into(), Value::String("real".into()));
        }
        doc.insert("seeds".into(), Value::Array(self.seeds.iter().map(|&s| Value::Integer(s as i64)).collect()));
        let mut network = Table::new();
        network.insert(
            "latency_ms".into(),
            Value::Array(vec![ms(self.network.latency.start), ms(self.network.latency.end)]),
        );
        network.insert("tcp_capacity".into(), int(self.network.tcp_capacity));
        doc.insert("network".into(), Value::Table(network));
        let mut server = Table::new();
        server.insert("buffer".into(), int(self.server.config.buffer_size));
        if let Some(m) = self.server.config.max_connections {
            server.insert("max_connections".into(), int(m));
        }
        if let Some(t) = self.server.config.idle_timeout {
            server.insert("idle_timeout_ms".into(), ms(t));
        }
        shaping(&mut server, &self.server.shaping);
        if self.server.reply != Default::default() {
            server.insert("reply".into(), Value::String(self.server.reply.name().into()));
        }
        doc.insert("server".into(), Value::Table(server));
        let clients = self
            .clients
            .iter()
            .map(|c| {
                let mut t = Table::new();
                if !c.start.is_zero() {
                    t.insert("start_ms".into(), ms(c.start));
                }
                if c.after_others {
                    t.insert("after_others".into(), Value::Boolean(true));
                }
                let messages = c
                    .messages
                    .iter()
                    .map(|m| {
                        let mut p = Table::new();
                        match m {
                            Payload::Text(s) => p.insert("text".into(), Value::String(s.clone())),
                            Payload::Bytes(b) => p.insert(
                                "hex".into(),
                                Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")),
                            ),
                            Payload::Random(n) => p.insert("random".into(), int(*n)),
                        };
                        Value::Table(p)
                    })
                    .collect();
                t.insert("messages".into(), Value::Array(messages));
                if c.pipeline > 1 {
                    t.insert("pipeline".into(), int(c.pipeline));
                }
                if c.reconnect {
                    t.insert("reconnect".into(), Value::Boolean(true));
                }
                if c.zero_writes {
                    t.insert("zero_writes".into(), Value::Boolean(true));
                }
                if c.empty == EmptyPolicy::Wait {
                    t.insert("empty".into(), Value::String("wait".into()));
                }
                let end = match (c.quiet(), c.end) {
                    (Some(Quiet::Silent), _) => Some("silent"),
                    (Some(Quiet::StopReading), _) => Some("stop_reading"),
                    (None, End::Close) => None,
                    (None, End::HalfClose) => Some("half_close"),
                    (None, End::Fin) => Some("fin"),
                    (None, End::Reset) => Some("reset"),
                    (None, End::DieMidMessage) => Some("die_mid_message"),
                };
                if let Some(end) = end {
                    t.insert("end".into(), Value::String(end.into()));
                    if c.misbehaves() || c.quiet().is_some() {
                        t.insert("end_after".into(), int(c.end_after));
                    }
                }
                if c.expect == Expect::Refused {
                    t.insert("expect".into(), Value::String("refused".into()));
                }
                shaping(&mut t, &c.shaping);
                Value::Table(t)
            })
            .collect();
        doc.insert("clients".into(), Value::Array(clients));
        let names = |w: &Who| match w {
            Who::All => None,
            Who::Clients(list) => {
                Some(Value::Array(list.iter().map(|i| Value::String(format!("client-{i}"))).collect()))
            }
        };
        let direction = |d: &Direction| match d {
            Direction::Both => None,
            Direction::ToServer => Some("to_server"),
            Direction::FromServer => Some("from_server"),
        };
        let timeline: Vec<Value> = self
            .timeline
            .iter()
            .map(|f| {
                let mut t = Table::new();
                t.insert("at_ms".into(), ms(f.at));
                let (action, who, dir) = match &f.action {
                    Action::Bounce => ("bounce", None, None),
                    Action::Stop => ("stop", None, None),
                    Action::Start => ("start", None, None),
                    Action::Crash => ("crash", None, None),
                    Action::Partition(w, d) => ("partition", names(w), direction(d)),
                    Action::Repair(w, d) => ("repair", names(w), direction(d)),
                    Action::Hold(w) => ("hold", names(w), None),
                    Action::Release(w) => ("release", names(w), None),
                    Action::Latency(w, d) => {
                        t.insert("ms".into(), ms(*d));
                        ("latency", names(w), None)
                    }
                    Action::FailRate(r) => {
                        t.insert("rate".into(), Value::Float(*r));
                        ("fail_rate", None, None)
                    }
                };
                t.insert("action".into(), Value::String(action.into()));
                if let Some(who) = who {
                    t.insert("clients".into(), who);
                }
                if let Some(dir) = dir {
                    t.insert("direction".into(), Value::String(dir.into()));
                }
                Value::Table(t)
            })
            .collect();
        if !timeline.is_empty() {
            doc.insert("timeline".into(), Value::Array(timeline));
        }
        let mut limits = Table::new();
        let l = &self.limits;
        for (key, value) in [
            ("deadline_ms", l.deadline),
            ("connect_timeout_ms", l.connect_timeout),
            ("io_timeout_ms", l.io_timeout),
            ("reconnect_within_ms", l.reconnect_within),
            ("restart_within_ms", l.restart_within),
            ("refused_within_ms", l.refused_within),
            ("drain_ms", l.drain),
            ("give_up_ms", l.give_up),
        ] {
            limits.insert(key.into(), ms(value));
        }
        doc.insert("limits".into(), Value::Table(limits));
        emit(&doc)
    }
}

/// Writes a document the way scenario files are written by hand: plain keys first, then `[tables]`, then
/// `[[arrays of tables]]`, with arrays (of messages, say) inline.
fn emit(doc: &toml::Table) -> String {
    use toml::Value;
    let mut out = String::new();
    let plain = |t: &toml::Table, out: &mut String| {
        for (key, value) in t {
            let inline = matches!(value, Value::Table(_))
                || matches!(value, Value::Array(a) if !a.is_empty() && a.iter().all(|v| matches!(v, Value::Table(_))));
            if !inline || key == "messages" {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
    };
    plain(doc, &mut out);
    for (key, value) in doc {
        match value {
            Value::Table(t) => {
                out.push_str(&format!("\n[{key}]\n"));
                plain(t, &mut out);
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Table(_))) => {
                for item in items {
                    if let Value::Table(t) = item {
                        out.push_str(&format!("\n[[{key}]]\n"));
                        plain(t, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    out
}
