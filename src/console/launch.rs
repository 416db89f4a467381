//! Handing the sign-in link to the operator without leaking it: the link holds the
//! launch token, so it never goes on a command line (other accounts can read process
//! arguments) or into a log. It is printed on the operator's terminal, and kept in a
//! file only the station's account can read; "open in a browser" opens a private
//! redirect page by its path, not the link itself.
use crate::secret::SecretString;
use crate::station::report::write_private_file;
use std::path::{Path, PathBuf};

/// The file holding the sign-in link (mode 0600), removed when the console stops.
pub const LINK_FILE: &str = "console.url";
/// The private page that forwards a browser to the link (mode 0600).
pub const OPEN_FILE: &str = "console-open.html";

/// The link files of one console run; dropping removes them.
#[derive(Debug)]
pub struct LinkFiles {
    /// The link, as text.
    pub link_file: PathBuf,
    /// A page that forwards to the link (for opening a browser by file path).
    pub open_file: PathBuf,
}

impl LinkFiles {
    /// Write both files into `dir`.
    pub fn write(dir: &Path, link: &SecretString) -> Result<LinkFiles, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let link_file = dir.join(LINK_FILE);
        let open_file = dir.join(OPEN_FILE);
        write_private_file(&link_file, format!("{}\n", link.expose()).as_bytes()).map_err(|e| e.to_string())?;
        let page = format!(
            "<!DOCTYPE html>\n<meta charset=\"utf-8\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<meta http-equiv=\"refresh\" content=\"0;url={0}\">\n<title>keystation console</title>\n<a href=\"{0}\">Open the keystation console</a>\n",
            html_attr(link.expose())
        );
        let page = zeroize::Zeroizing::new(page);
        write_private_file(&open_file, page.as_bytes()).map_err(|e| e.to_string())?;
        Ok(LinkFiles { link_file, open_file })
    }

    /// Open the forwarding page in the desktop's browser (by its path).
    pub fn open_in_browser(&self) -> Result<(), String> {
        let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        std::process::Command::new(opener)
            .arg(&self.open_file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| format!("cannot start {opener} to open a browser ({e}); open {} yourself", self.open_file.display()))
    }
}

impl Drop for LinkFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link_file);
        let _ = std::fs::remove_file(&self.open_file);
    }
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_private_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let link = SecretString::new("http://127.0.0.1:8470/#token=abc");
        let files = LinkFiles::write(dir.path(), &link).unwrap();
        assert_eq!(std::fs::read_to_string(&files.link_file).unwrap().trim(), link.expose());
        assert!(std::fs::read_to_string(&files.open_file).unwrap().contains("url=http://127.0.0.1:8470/#token=abc"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&files.link_file).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(&files.open_file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (a, b) = (files.link_file.clone(), files.open_file.clone());
        drop(files);
        assert!(!a.exists() && !b.exists());
    }
}
