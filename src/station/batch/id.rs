//! The batch id: what ties a re-run to the jobs of an earlier run of the same list.
//!
//! It is derived from the file's **absolute path**, not its contents: operators fix a bad
//! row or append late starters and run the same file again, and users already done must
//! still be recognised as done (a content hash would start a new batch and enrol them a
//! second time). The id keeps the file name readable in reports:
//! `users-3f2a9c41` for `/srv/imaging/users.csv`. `--batch-id` names a batch explicitly,
//! e.g. to start over with the same file.
use sha2::{Digest, Sha256};
use std::path::Path;

/// The longest batch id accepted from the command line.
pub const BATCH_ID_MAX_LEN: usize = 64;

/// The id for the batch file at `path` (made absolute; symlinks resolved when possible).
pub fn batch_id_for_path(path: &Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    let digest = Sha256::digest(absolute.to_string_lossy().as_bytes());
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let stem: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).take(40).collect();
    let stem = if stem.is_empty() { "batch".to_string() } else { stem };
    format!("{stem}-{}", &hex::encode(digest)[..8])
}

/// Check an operator-given batch id: letters, digits, `-`, `_`, `.`, at most 64.
pub fn check_batch_id(id: &str) -> Result<&str, String> {
    if id.is_empty() || id.len() > BATCH_ID_MAX_LEN {
        return Err(format!("a batch id has 1 to {BATCH_ID_MAX_LEN} characters"));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("a batch id may contain letters, digits, `-`, `_` and `.`, not `{c}`"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_same_id_and_content_does_not_matter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("new starters.csv");
        std::fs::write(&file, "alice@contoso.test\n").expect("write");
        let first = batch_id_for_path(&file);
        std::fs::write(&file, "alice@contoso.test\nbob@contoso.test\n").expect("write");
        assert_eq!(batch_id_for_path(&file), first);
        assert!(first.starts_with("new-starters-"), "{first}");
        let other = dir.path().join("sub").join("new starters.csv");
        assert_ne!(batch_id_for_path(&other), first);
        assert!(check_batch_id(&first).is_ok());
    }

    #[test]
    fn operator_ids_are_checked() {
        assert!(check_batch_id("march-2026.wave1").is_ok());
        assert!(check_batch_id("").is_err());
        assert!(check_batch_id("a b").unwrap_err().contains("` `"));
    }
}
