//! Whether two paths name one file, so a command can refuse to write over what it reads or
//! to give two outputs one file. By identity (device and inode) when both exist, so links
//! and other spellings are caught; by canonical path when one does not exist yet.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Whether `a` and `b` are, or would be once created, the same file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        (Err(_), Err(_)) => match (to_be_created(a), to_be_created(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        // One exists and the other does not: two files.
        _ => false,
    }
}

/// The canonical path a file not there yet would have: its directory's, and its name.
fn to_be_created(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Some(fs::canonicalize(dir).ok()?.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_links_and_files_to_be() {
        let dir = std::env::temp_dir().join(format!("tcpgoon-same-file-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        let a = dir.join("a");
        fs::write(&a, "x").unwrap();
        fs::hard_link(&a, dir.join("b")).unwrap();
        fs::write(dir.join("c"), "x").unwrap();
        assert!(same_file(&a, &a));
        assert!(same_file(&a, &dir.join("b")));
        assert!(same_file(&a, &dir.join("sub/../a")));
        assert!(!same_file(&a, &dir.join("c")));
        assert!(!same_file(&a, &dir.join("new")));
        assert!(same_file(&dir.join("new"), &dir.join("sub/../new")));
        assert!(!same_file(&dir.join("new"), &dir.join("other")));
        assert!(!same_file(&dir.join("no/such"), &dir.join("no/such")));
        let _ = fs::remove_dir_all(&dir);
    }
}
