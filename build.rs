//! Build facts for `tcpgoon version`, which prints them as the original tool does
//! (`Git Commit Hash: …`, `UTC Build Time: …`): the short hash of the commit built, and when
//! this script ran, in UTC (`SOURCE_DATE_EPOCH` instead, when set, for reproducible builds).
//!
//! It never fails a build: outside a git checkout, or without git, the hash is `unknown`.
//! It reruns only when the commit can have changed (the checkout's HEAD, the branch it
//! names, packed refs) or this file did, so an ordinary rebuild does not rerun it; the build
//! time is therefore the time of the last build after a commit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    for path in git_state(&dir) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let hash = git(&dir, &["rev-parse", "--short", "HEAD"])
        .filter(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_string());
    let time = build_time().unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TCPGOON_GIT_HASH={hash}");
    println!("cargo:rustc-env=TCPGOON_BUILD_TIME={time}");
}

/// What `git` prints for `args` in `dir`, trimmed; `None` when it cannot say.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

/// The files whose change can mean another commit: HEAD (in a worktree, its own), the
/// branch it names (or, while the branch has no file of its own, the folder one would
/// appear in), and the packed refs. Only paths that exist: cargo reruns a script on every
/// build for a path that does not.
fn git_state(dir: &Path) -> Vec<PathBuf> {
    let in_dir = |text: String| {
        let path = PathBuf::from(text);
        if path.is_absolute() {
            path
        } else {
            dir.join(path)
        }
    };
    let Some(git_dir) = git(dir, &["rev-parse", "--git-dir"]).map(in_dir) else {
        return Vec::new();
    };
    let common = git(dir, &["rev-parse", "--git-common-dir"])
        .map(in_dir)
        .unwrap_or_else(|| git_dir.clone());
    let head = git_dir.join("HEAD");
    let mut paths = vec![head.clone(), common.join("packed-refs")];
    if let Some(branch) = std::fs::read_to_string(&head)
        .ok()
        .and_then(|text| Some(text.trim().strip_prefix("ref: ")?.to_string()))
    {
        let file = common.join(&branch);
        match file.parent() {
            Some(folder) if !file.exists() => paths.push(folder.to_path_buf()),
            _ => paths.push(file),
        }
    }
    paths.retain(|path| path.exists());
    paths
}

/// `YYYY-MM-DD HH:MM:SS`, in UTC.
fn build_time() -> Option<String> {
    let seconds = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse::<u64>().ok()?,
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs(),
    };
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ))
}

/// The calendar date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
