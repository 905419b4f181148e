//! Output directories: checked writable before any work starts, so a run never ends with its results lost to a
//! directory that cannot be written.

use std::path::Path;

use anyhow::Context;

/// Creates `dir` if needed and proves it writable (a probe file, removed at once); the error names the
/// directory and the flag that chose it.
pub fn ensure_writable(dir: &Path, flag: &str) -> anyhow::Result<()> {
    let probe = dir.join(format!(".echo-harness-probe-{}", std::process::id()));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("{flag} {} is not a writable directory", dir.display()))
}
