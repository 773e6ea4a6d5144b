//! Test-only knobs that stop the process at an exact effect boundary, so
//! tests can kill podns where a crash matters instead of at a random moment.
//! Both are inert unless their environment variable is set.
//!
//! - `PODNS_TEST_CRASH_AFTER_EFFECTS=N`: abort (no cleanup, like `kill -9`)
//!   before effect N+1 of this invocation, recovery included.
//! - `PODNS_TEST_PAUSE_AFTER_EFFECTS=N`: before effect N+1, print `paused` on
//!   stderr and wait until stdin is closed, holding every lock; the test then
//!   kills the process.

use std::io::Read;

use async_trait::async_trait;
use podns_core::{Backend, Effect, EffectError, Observation};

const CRASH_AFTER: &str = "PODNS_TEST_CRASH_AFTER_EFFECTS";
const PAUSE_AFTER: &str = "PODNS_TEST_PAUSE_AFTER_EFFECTS";

/// Wraps the real backend and counts effects.
pub struct TestKnobs<B> {
    inner: B,
    executed: u64,
    crash_after: Option<u64>,
    pause_after: Option<u64>,
}

fn knob(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

impl<B> TestKnobs<B> {
    pub fn from_env(inner: B) -> Self {
        Self {
            inner,
            executed: 0,
            crash_after: knob(CRASH_AFTER),
            pause_after: knob(PAUSE_AFTER),
        }
    }
}

#[async_trait]
impl<B: Backend> Backend for TestKnobs<B> {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        if self.crash_after == Some(self.executed) {
            std::process::abort();
        }
        if self.pause_after == Some(self.executed) {
            eprintln!("paused");
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        }
        self.executed += 1;
        self.inner.execute(effect).await
    }
}
