//! The operating system's handler for `keystation://` links: which program a browser
//! starts when a page opens such a link (`keystation open URL`).
//!
//! Linux: a desktop entry `keystation.desktop` with `MimeType=x-scheme-handler/keystation`
//! under `$XDG_DATA_HOME/applications`, made the default with `xdg-mime` when it is
//! installed (when it is not, the result says so and what to install). Windows: the
//! registry entries under `HKEY_CURRENT_USER\Software\Classes\keystation`, produced as
//! data (applied on Windows only; not from this Linux build). macOS: an app bundle's
//! `CFBundleURLTypes` (docs/deeplinks.md).
use super::SCHEME;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The desktop entry's file name.
pub const DESKTOP_FILE: &str = "keystation.desktop";

/// Where the handler stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandlerStatus {
    /// The desktop entry's path.
    pub desktop_file: PathBuf,
    /// Whether the desktop entry exists.
    pub registered: bool,
    /// The program the entry starts (`None`: no entry).
    pub exec: Option<String>,
    /// What `xdg-mime` did or says: `default set`, `absent: …`, the current default, or its error.
    pub xdg_mime: String,
}

/// The data directory: `$XDG_DATA_HOME`, else `$HOME/.local/share`.
pub fn data_home() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".local/share")).ok_or_else(|| "neither XDG_DATA_HOME nor HOME is set: set XDG_DATA_HOME to the directory for applications/".to_string())
}

fn quote_exec(exe: &Path) -> String {
    // Desktop Entry Specification: quote the program, escaping `"`, `` ` ``, `$` and `\`.
    let mut q = String::from("\"");
    for c in exe.display().to_string().chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The desktop entry that opens `keystation://` links with `exe open %u`.
pub fn desktop_entry(exe: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=keystation\nComment=Open keystation:// enrollment links\nExec={} open %u\nTerminal=true\nNoDisplay=true\nMimeType=x-scheme-handler/{SCHEME};\n",
        quote_exec(exe)
    )
}

fn xdg_mime(args: &[&str]) -> Result<String, String> {
    match Command::new("xdg-mime").args(args).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("absent: xdg-mime is not installed (Debian: apt install xdg-utils); the desktop entry is written but not made the default".into()),
        Err(e) => Err(format!("failed: {e}")),
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!("failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
    }
}

/// The handler under `data_home`.
pub fn status(data_home: &Path) -> HandlerStatus {
    let desktop_file = data_home.join("applications").join(DESKTOP_FILE);
    let text = std::fs::read_to_string(&desktop_file).ok();
    let exec = text.as_deref().and_then(|t| t.lines().find_map(|l| l.strip_prefix("Exec=")).map(str::to_string));
    let xdg = match xdg_mime(&["query", "default", &format!("x-scheme-handler/{SCHEME}")]) {
        Ok(d) if d.is_empty() => "no default".to_string(),
        Ok(d) => format!("default: {d}"),
        Err(e) => e,
    };
    HandlerStatus { registered: text.is_some(), desktop_file, exec, xdg_mime: xdg }
}

/// Write the desktop entry for `exe` and make it the default handler (when xdg-mime is there).
pub fn register(data_home: &Path, exe: &Path) -> Result<HandlerStatus, String> {
    let dir = data_home.join("applications");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(DESKTOP_FILE);
    std::fs::write(&path, desktop_entry(exe)).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let set = xdg_mime(&["default", DESKTOP_FILE, &format!("x-scheme-handler/{SCHEME}")]);
    let mut s = status(data_home);
    s.xdg_mime = match set {
        Ok(_) => "default set".into(),
        Err(e) => e,
    };
    Ok(s)
}

/// Remove the desktop entry (nothing to do when there is none).
pub fn unregister(data_home: &Path) -> Result<HandlerStatus, String> {
    let path = data_home.join("applications").join(DESKTOP_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
    }
    Ok(status(data_home))
}

/// One registry value: key, value name (`""`: the default value), data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryEntry {
    /// The key, e.g. `HKEY_CURRENT_USER\Software\Classes\keystation`.
    pub key: String,
    /// The value's name (`""` is the key's default value).
    pub name: String,
    /// The value (REG_SZ).
    pub data: String,
}

/// The Windows registry entries that make `exe` the `keystation:` handler for the user.
pub fn windows_registry_entries(exe: &str) -> Vec<RegistryEntry> {
    let root = format!("HKEY_CURRENT_USER\\Software\\Classes\\{SCHEME}");
    let e = |key: String, name: &str, data: String| RegistryEntry { key, name: name.into(), data };
    vec![
        e(root.clone(), "", "URL:keystation enrollment link".into()),
        e(root.clone(), "URL Protocol", String::new()),
        e(format!("{root}\\DefaultIcon"), "", format!("\"{exe}\",0")),
        e(format!("{root}\\shell\\open\\command"), "", format!("\"{exe}\" open \"%1\"")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desktop_entry_opens_links_with_the_program_quoted() {
        let d = desktop_entry(Path::new("/opt/key station/bin/keystation"));
        assert!(d.contains("Exec=\"/opt/key station/bin/keystation\" open %u\n"), "{d}");
        assert!(d.contains("MimeType=x-scheme-handler/keystation;\n"));
        assert!(desktop_entry(Path::new("/a$b/k")).contains("Exec=\"/a\\$b/k\" open %u"));
    }

    #[test]
    fn windows_gets_a_url_protocol_key_and_an_open_command() {
        let r = windows_registry_entries(r"C:\Program Files\keystation\keystation.exe");
        let root = r"HKEY_CURRENT_USER\Software\Classes\keystation";
        assert!(r.contains(&RegistryEntry { key: root.into(), name: "URL Protocol".into(), data: String::new() }));
        let cmd = r.iter().find(|e| e.key == format!(r"{root}\shell\open\command")).unwrap();
        assert_eq!(cmd.data, r#""C:\Program Files\keystation\keystation.exe" open "%1""#);
        assert!(r.iter().all(|e| e.key.starts_with(root)));
    }
}
