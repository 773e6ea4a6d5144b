//! Test-only knobs that stop the process at an exact point, so tests can kill
//! podns where a crash matters instead of at a random moment. Every command
//! runs its node on [`TestKnobs`], a host around the Linux one; each knob is
//! inert unless its environment variable is set.
//!
//! - `PODNS_TEST_CRASH_AFTER_EFFECTS=N`: abort (no cleanup, like `kill -9`)
//!   before effect N+1 of this invocation, recovery included.
//! - `PODNS_TEST_PAUSE_AFTER_EFFECTS=N`: before effect N+1, print `paused` on
//!   stderr and wait until stdin is closed, holding every lock; the test then
//!   kills the process.
//! - `PODNS_TEST_PAUSE_AT=<step>`: at `<step>`, print `paused at <step>` on
//!   stdout and wait until stdin is closed, holding every lock. Steps are
//!   `before-<effect>` and `after-<effect>` around an effect of that name
//!   (`create-dir`, `create-pin-file`, `create-pod-namespaces`, ...), and the
//!   steps inside `create-pod-namespaces`: `helper-in-userns`,
//!   `maps-written`, `helper-in-netns`, `net-pinned`, `user-pinned`. A step
//!   pauses the first time it is reached; `<step>#N` pauses the Nth time (the
//!   allocation's `create-dir` comes before the pin directory's, so that one
//!   is `after-create-dir#2` for a new pod).

use std::io::{Read, Write};
use std::path::Path;

use async_trait::async_trait;
use podns_backend_linux::LinuxHost;
use podns_core::{Backend, Effect, EffectError, Host, HostDir, HostError, Observation, Root};

const CRASH_AFTER: &str = "PODNS_TEST_CRASH_AFTER_EFFECTS";
const PAUSE_AFTER: &str = "PODNS_TEST_PAUSE_AFTER_EFFECTS";
const PAUSE_AT: &str = "PODNS_TEST_PAUSE_AT";

/// The Linux host, with every knob the environment sets.
pub struct TestKnobs {
    inner: LinuxHost,
    executed: u64,
    crash_after: Option<u64>,
    pause_after: Option<u64>,
    pause_at: Option<Target>,
}

fn count_knob(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

impl TestKnobs {
    pub fn from_env(mut inner: LinuxHost) -> Self {
        let pause_at = std::env::var(PAUSE_AT)
            .ok()
            .and_then(|text| Target::parse(&text));
        if let Some(target) = pause_at.clone() {
            // The steps inside one effect are the backend's to report.
            let mut target = Some(target);
            inner.backend_mut().set_step_hook(Box::new(move |name| {
                if Target::hit(&mut target, name) {
                    pause_and_announce(name);
                }
            }));
        }
        Self {
            inner,
            executed: 0,
            crash_after: count_knob(CRASH_AFTER),
            pause_after: count_knob(PAUSE_AFTER),
            pause_at,
        }
    }

    fn check_step(&mut self, step: &str) {
        if Target::hit(&mut self.pause_at, step) {
            pause_and_announce(step);
        }
    }
}

#[async_trait]
impl Backend for TestKnobs {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        if self.crash_after == Some(self.executed) {
            std::process::abort();
        }
        if self.pause_after == Some(self.executed) {
            eprintln!("paused");
            wait_for_stdin_to_close();
        }
        self.executed += 1;
        if self.pause_at.is_some() {
            self.check_step(&format!("before-{}", effect.name()));
        }
        let outcome = self.inner.execute(effect).await;
        if self.pause_at.is_some() {
            self.check_step(&format!("after-{}", effect.name()));
        }
        outcome
    }
}

impl Host for TestKnobs {
    fn lock(&mut self, root: Root) -> Result<(), HostError> {
        self.inner.lock(root)
    }

    fn unlock(&mut self, root: Root) {
        self.inner.unlock(root);
    }

    fn generation(&mut self) -> Result<u64, HostError> {
        self.inner.generation()
    }

    fn set_generation(&mut self, generation: u64) -> Result<(), HostError> {
        self.inner.set_generation(generation)
    }

    fn open_root(&mut self, root: Root, dir: &Path) -> Result<HostDir, HostError> {
        self.inner.open_root(root, dir)
    }
}

/// Prints `paused at <step>` and waits until stdin is closed.
fn pause_and_announce(step: &str) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "paused at {step}");
    let _ = stdout.flush();
    wait_for_stdin_to_close();
}

fn wait_for_stdin_to_close() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// A step to pause at, and how many more times it is passed first.
#[derive(Clone)]
struct Target {
    step: String,
    skip: usize,
}

impl Target {
    /// `step` or `step#N`.
    fn parse(text: &str) -> Option<Self> {
        let (step, nth) = match text.rsplit_once('#') {
            Some((step, nth)) => (step, nth.parse::<usize>().ok().filter(|n| *n >= 1)?),
            None => (text, 1),
        };
        Some(Self {
            step: step.to_owned(),
            skip: nth - 1,
        })
    }

    /// True when `step` is the one to pause at, this time; the target is
    /// then disarmed.
    fn hit(target: &mut Option<Self>, step: &str) -> bool {
        let Some(armed) = target.as_mut().filter(|armed| armed.step == step) else {
            return false;
        };
        if armed.skip > 0 {
            armed.skip -= 1;
            return false;
        }
        *target = None;
        true
    }
}
