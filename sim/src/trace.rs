//! The run's trace: a hash of every effect, outcome and result (for the
//! determinism check), and optionally the lines themselves (for replay).

use std::hash::{Hash, Hasher};

/// FNV-1a: a fixed, seedless hash, so trace hashes compare across runs and
/// machines.
#[derive(Debug, Clone)]
struct Fnv64(u64);

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A trace under construction.
#[derive(Debug, Clone)]
pub struct Trace {
    hasher: Fnv64,
    lines: Option<Vec<String>>,
}

impl Trace {
    /// A trace that keeps its lines only when `keep_lines` is set.
    pub fn new(keep_lines: bool) -> Self {
        Self {
            hasher: Fnv64(0xcbf2_9ce4_8422_2325),
            lines: keep_lines.then(Vec::new),
        }
    }

    /// Adds a hashable event; `line` renders it when lines are kept.
    pub fn record(&mut self, event: &impl Hash, line: impl FnOnce() -> String) {
        event.hash(&mut self.hasher);
        if let Some(lines) = &mut self.lines {
            lines.push(line());
        }
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    /// The lines, when kept.
    pub fn lines(&self) -> &[String] {
        self.lines.as_deref().unwrap_or_default()
    }
}
