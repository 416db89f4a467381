//! A throw-away PostgreSQL cluster for the tiers that test the shared journal:
//! `initdb` in a temporary directory, a free port on 127.0.0.1, password (SCRAM)
//! authentication over TCP, stopped and deleted when the test process ends.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the
//! `postgres` system user that Debian's package creates (else `nobody`), through
//! `Command::uid`/`gid` — no `sudo`, no `su`. A watchdog shell owns the server and stops
//! it (and deletes the directory) as soon as its standard input closes, which happens
//! when the test process exits for any reason, a panic or an abort included.
//!
//! `tests/run-all.sh` installs Debian's `postgresql` when it is missing and sets
//! `KEYSTATION_REQUIRE_POSTGRES=1`: then a missing server is a failure, not a skip.
#![allow(dead_code)]
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cluster's superuser (and the name tests connect as).
pub const USER: &str = "keystation";

/// Set by `tests/run-all.sh`: a missing PostgreSQL fails the tier instead of skipping it.
pub const REQUIRE_ENV: &str = "KEYSTATION_REQUIRE_POSTGRES";

/// A running (or stopped) throw-away cluster.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    owner: Option<(u32, u32)>,
    watchdog: Option<(Child, ChildStdin)>,
}

/// The directory holding `initdb`, `postgres`, `pg_isready` and `psql`: Debian keeps
/// them in `/usr/lib/postgresql/<version>/bin` (newest wins), else `PATH`.
pub fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, b)| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    versions.sort();
    if let Some((_, b)) = versions.pop() {
        return Some(b);
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(PathBuf::from).find(|d| d.join("initdb").exists() && d.join("postgres").exists())
}

/// `Some(cluster)`, or `None` (with a note on stderr) when PostgreSQL is not installed
/// and not required.
pub fn start() -> Option<Cluster> {
    let Some(bin) = find_bin() else {
        if std::env::var_os(REQUIRE_ENV).is_some() {
            panic!("PostgreSQL is required ({REQUIRE_ENV} is set) but no initdb/postgres was found: apt-get install postgresql");
        }
        eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql, or run tests/run-all.sh)");
        return None;
    };
    Some(Cluster::init(bin))
}

/// One cluster for the whole test binary (each test makes its own database).
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED.get_or_init(start).as_ref()
}

/// An unprivileged account for the server when we are root.
fn server_account() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let c = std::ffi::CString::new(name).unwrap();
        // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if !pw.is_null() {
            // SAFETY: non-null passwd entry from getpwnam.
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            return Some((uid, gid));
        }
    }
    panic!("running as root, but there is neither a `postgres` nor a `nobody` account to run PostgreSQL as");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn chown(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.env_clear().env("PATH", "/usr/bin:/bin").env("LC_ALL", "C").current_dir(&self.dir);
        if let Some((uid, gid)) = self.owner {
            c.uid(uid).gid(gid);
        }
        c
    }

    fn init(bin: PathBuf) -> Cluster {
        let owner = server_account();
        let dir = tempfile::Builder::new().prefix("ks-pg-").tempdir().unwrap().keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        chown(&dir, owner);
        let password = format!("ks-{}", uuid::Uuid::new_v4().simple());
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).unwrap();
        chown(&pwfile, owner);
        let mut cluster = Cluster { dir, bin, port: free_port(), password, owner, watchdog: None };
        let out = cluster
            .command("initdb")
            .args(["-D", "data", "-U", USER, "--pwfile", "pwfile", "--auth-host=scram-sha-256", "--auth-local=trust", "--no-locale", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let _ = std::fs::remove_file(cluster.dir.join("pwfile"));
        cluster.start_server();
        cluster
    }

    /// Start the server (again) on the same directory and port, and wait until it
    /// accepts connections.
    pub fn start_server(&mut self) {
        assert!(self.watchdog.is_none(), "the server is already running");
        // `read` returns on "stop" (keep the data for a restart) or on end of file (the
        // test process is gone: delete everything).
        let script = r#"
"$BIN/postgres" -D data -p "$PORT" -k "$DIR" -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=32MB >>server.log 2>&1 &
pid=$!
read -r cmd
kill -INT "$pid" 2>/dev/null
wait "$pid"
[ "$cmd" = stop ] || rm -rf "$DIR"
"#;
        let mut sh = Command::new("/bin/sh");
        sh.env_clear().env("PATH", "/usr/bin:/bin").env("LC_ALL", "C").current_dir(&self.dir);
        if let Some((uid, gid)) = self.owner {
            sh.uid(uid).gid(gid);
        }
        let mut child = sh
            .arg("-c")
            .arg(script)
            .env("BIN", &self.bin)
            .env("PORT", self.port.to_string())
            .env("DIR", &self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the PostgreSQL watchdog");
        let stdin = child.stdin.take().unwrap();
        self.watchdog = Some((child, stdin));
        self.wait_ready(Duration::from_secs(60));
    }

    fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ok = self.command("pg_isready").args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER]).status().map(|s| s.success()).unwrap_or(false);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start within {within:?}; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the server (fast shutdown: sessions are cut), keeping its data.
    pub fn stop_server(&mut self) {
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            let _ = stdin.write_all(b"stop\n");
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The server's process id while it runs (`postmaster.pid`).
    pub fn server_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data/postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password (tests pass it through `password_env`/`password_file`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A URL for `database`, without the password.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Run SQL with `psql` as the superuser; its output (tuples only, unaligned).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .env_clear()
            .env("PGPASSWORD", &self.password)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", database, "-c", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Turn TLS on with this certificate and key (PEM), as a DBA would: the files in the
    /// data directory's parent, owned by the server's account, and a configuration
    /// reload. Plain connections keep working (tests that use `sslmode=disable`).
    #[allow(dead_code)] // only the journal tier's TLS test uses it
    pub fn enable_tls(&self, certificate_pem: &str, key_pem: &str) {
        let cert = self.dir.join("server.crt");
        let key = self.dir.join("server.key");
        std::fs::write(&cert, certificate_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        chown(&cert, self.owner);
        chown(&key, self.owner);
        // ALTER SYSTEM cannot run inside a transaction block: one statement per call.
        self.psql("postgres", &format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()));
        self.psql("postgres", &format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()));
        self.psql("postgres", "ALTER SYSTEM SET ssl = on");
        self.psql("postgres", "SELECT pg_reload_conf()");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.psql("postgres", "SHOW ssl") != "on" {
            assert!(Instant::now() < deadline, "PostgreSQL did not turn TLS on; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A fresh, empty database; its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        let name = format!("{prefix}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // End of file without "stop": the watchdog stops the server and deletes the directory.
        if let Some((mut child, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        } else if self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
