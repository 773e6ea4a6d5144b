//! Test-only knobs that stop the process at an exact point, so tests can kill
//! podns where a crash matters instead of at a random moment. Every command
//! runs its node on a Linux host with these knobs in its effect hook; each
//! knob is inert unless its environment variable is set.
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

use podns_backend_linux::{Effect, EffectPhase, LinuxHost};

const CRASH_AFTER: &str = "PODNS_TEST_CRASH_AFTER_EFFECTS";
const PAUSE_AFTER: &str = "PODNS_TEST_PAUSE_AFTER_EFFECTS";
const PAUSE_AT: &str = "PODNS_TEST_PAUSE_AT";

/// What the knobs count and wait for, in the host's effect hook.
struct Knobs {
    executed: u64,
    crash_after: Option<u64>,
    pause_after: Option<u64>,
    pause_at: Option<Target>,
}

fn count_knob(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Arms on `host` every knob the environment sets.
pub fn install(host: &mut LinuxHost) {
    let pause_at = std::env::var(PAUSE_AT)
        .ok()
        .and_then(|text| Target::parse(&text));
    if let Some(target) = pause_at.clone() {
        // The steps inside one effect are the backend's to report.
        let mut target = Some(target);
        host.backend_mut().set_step_hook(Box::new(move |name| {
            if Target::hit(&mut target, name) {
                pause_and_announce(name);
            }
        }));
    }
    let mut knobs = Knobs {
        executed: 0,
        crash_after: count_knob(CRASH_AFTER),
        pause_after: count_knob(PAUSE_AFTER),
        pause_at,
    };
    if knobs.crash_after.is_none() && knobs.pause_after.is_none() && knobs.pause_at.is_none() {
        return;
    }
    host.set_effect_hook(Box::new(move |phase, effect| knobs.at(phase, effect)));
}

impl Knobs {
    fn at(&mut self, phase: EffectPhase, effect: &Effect) {
        if phase == EffectPhase::Before {
            if self.crash_after == Some(self.executed) {
                std::process::abort();
            }
            if self.pause_after == Some(self.executed) {
                eprintln!("paused");
                wait_for_stdin_to_close();
            }
            self.executed += 1;
        }
        if self.pause_at.is_some() {
            let step = match phase {
                EffectPhase::Before => format!("before-{}", effect.name()),
                EffectPhase::After => format!("after-{}", effect.name()),
            };
            if Target::hit(&mut self.pause_at, &step) {
                pause_and_announce(&step);
            }
        }
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
