//! What the examples share: their directories come from the command line,
//! so that a test can run them on directories of its own.

use std::path::PathBuf;

/// The value of `--<name> DIR` on the command line.
pub fn dir_arg(name: &str) -> Result<PathBuf, String> {
    let flag = format!("--{name}");
    let mut args = std::env::args().skip_while(|arg| *arg != flag).skip(1);
    args.next()
        .map(PathBuf::from)
        .ok_or_else(|| format!("usage: pass {flag} DIR"))
}
