//! The built-in server's read buffers, sized by load: a connection starts with a small buffer, grows it when a
//! read fills it (a fast stream), up to `Config::buffer_size`, and gives the growth back after a few short reads
//! in a row (the flow slowed or stopped). All connections of a server draw their growth from one budget ([`BUDGET`]), so a crowd of
//! streaming clients cannot take a full buffer each: a few connections stream with large buffers, a thousand share
//! the budget. Pure bookkeeping: no I/O here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A connection's first buffer (or `buffer_size`, when smaller).
pub const START: usize = 16 * 1024;

/// Short reads in a row after which a connection gives its growth back.
pub const SHORT_READS: u32 = 4;

/// The bytes of buffer growth all connections of one server may hold together, beyond their first buffers.
pub const BUDGET: usize = 16 << 20;

/// What a server's connections hold in read buffers.
#[derive(Debug, Default)]
pub struct Budget {
    /// Bytes held in buffers past their start size, over all connections.
    grown: AtomicUsize,
}

impl Budget {
    /// Takes `bytes` of growth if the budget has room.
    fn take(&self, bytes: usize) -> bool {
        self.grown
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| (held + bytes <= BUDGET).then_some(held + bytes))
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.grown.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes of growth held now.
    pub fn grown(&self) -> usize {
        self.grown.load(Ordering::Relaxed)
    }
}

/// One connection's read buffer.
#[derive(Debug)]
pub struct ReadBuffer {
    /// The buffer; its length is the most the next read takes.
    buf: Vec<u8>,
    /// Its first size.
    start: usize,
    /// The most it grows to (`Config::buffer_size`).
    max: usize,
    /// The server's budget.
    budget: Arc<Budget>,
    /// Short reads in a row.
    short: u32,
    /// Whether the last read took less than half the buffer: it drained what had arrived.
    drained: bool,
}

impl ReadBuffer {
    /// A buffer of at most `max` bytes drawing its growth from `budget`.
    pub fn new(max: usize, budget: Arc<Budget>) -> ReadBuffer {
        let max = max.max(1);
        let start = START.min(max);
        ReadBuffer { buf: vec![0; start], start, max, budget, short: 0, drained: false }
    }

    /// The buffer to read into.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Sizes the buffer for the next read after one of `n` bytes: a full read grows it (to `max` if the budget has
    /// room, else doubled if it has that), and [`SHORT_READS`] reads in a row under a quarter of it give the growth
    /// back. (Halving at each short read cost a fifth of one stream's throughput: a fast stream has short reads
    /// whenever the server catches up, and each one took two full reads to undo.)
    pub fn after_read(&mut self, n: usize) {
        let len = self.buf.len();
        self.drained = n < len / 2;
        if n == len && len < self.max {
            self.short = 0;
            let grown = [self.max, (len * 2).min(self.max)].into_iter().find(|g| self.budget.take(g - len));
            if let Some(grown) = grown {
                self.buf.resize(grown, 0);
            }
        } else if n < len / 4 {
            self.short += 1;
            if self.short >= SHORT_READS && len > self.start {
                self.short = 0;
                self.budget.give_back(len - self.start);
                self.buf.truncate(self.start);
                self.buf.shrink_to_fit();
            }
        } else {
            self.short = 0;
        }
    }
}

impl ReadBuffer {
    /// Whether the last read took less than half the buffer it had: it drained what had arrived, so reading again
    /// at once would most likely find nothing.
    pub fn drained(&self) -> bool {
        self.drained
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        self.budget.give_back(self.buf.len() - self.start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_grows_while_reads_fill_it_and_shrinks_when_they_come_short() {
        let budget = Arc::new(Budget::default());
        let mut b = ReadBuffer::new(64 * 1024, budget.clone());
        assert_eq!(b.space().len(), START);
        b.after_read(START);
        assert_eq!(b.space().len(), 64 * 1024, "a full read grows it to the configured size, never past it");
        assert!(!b.drained(), "a full read drained nothing");
        assert_eq!(budget.grown(), 64 * 1024 - START);
        for _ in 1..SHORT_READS {
            b.after_read(100);
        }
        b.after_read(40_000);
        assert!(!b.drained());
        b.after_read(100);
        assert!(b.drained(), "a read under half of the buffer drained it");
        assert_eq!(b.space().len(), 64 * 1024, "short reads must come in a row");
        for _ in 0..SHORT_READS {
            b.after_read(100);
        }
        assert_eq!(b.space().len(), START);
        assert_eq!(budget.grown(), 0);
        b.after_read(START);
        drop(b);
        assert_eq!(budget.grown(), 0, "a closed connection gives its growth back");
        // The tutorial's 1024-byte buffer stays exactly that.
        let mut tiny = ReadBuffer::new(1024, budget.clone());
        tiny.after_read(1024);
        assert_eq!(tiny.space().len(), 1024);
    }

    #[test]
    fn a_crowd_shares_the_budget_instead_of_each_taking_a_full_buffer() {
        let budget = Arc::new(Budget::default());
        let mut crowd: Vec<ReadBuffer> = (0..1000).map(|_| ReadBuffer::new(256 * 1024, budget.clone())).collect();
        for _ in 0..8 {
            for b in &mut crowd {
                let full = b.space().len();
                b.after_read(full);
            }
        }
        let held: usize = crowd.iter_mut().map(|b| b.space().len()).sum();
        assert!(held <= 1000 * START + BUDGET, "{held}");
        assert!(budget.grown() <= BUDGET);
        assert!(crowd.iter_mut().any(|b| b.space().len() > START), "some grew");
    }
}
