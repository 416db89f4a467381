//! The shared journal: PostgreSQL through tokio-postgres (docs/decisions/0002).
//!
//! The journal API is synchronous and runs on tokio's blocking pool, so this backend
//! owns a small current-thread runtime and `block_on`s every statement with a deadline:
//! an unreachable database is an error within seconds ([`JournalError::Unreachable`]),
//! never a hang, and the next call reconnects. A relaxed commit runs with
//! `synchronous_commit = off` (the WAL keeps the order; the next synced commit flushes it).
use super::{Backend, Dialect, Row, TxMode, Value};
use crate::secret::SecretString;
use crate::station::journal::JournalError;
use crate::station::journal::types::Durability;
use bytes::BytesMut;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement};

/// How to reach the shared journal (from `[journal]`).
#[derive(Clone, Debug)]
pub struct PgSettings {
    /// `postgres://user@host:port/database[?sslmode=…]`, without a password.
    pub url: String,
    /// The password (from `password_env` / `password_file`).
    pub password: Option<SecretString>,
    /// Trust this PEM bundle instead of the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// Connecting gives up after this long.
    pub connect_timeout: Duration,
    /// One statement (or commit) gives up after this long.
    pub statement_timeout: Duration,
    /// The session's `lock_timeout` and `idle_in_transaction_session_timeout`: a write
    /// waiting for another station's row lock gives up (and is retried) after this long,
    /// and a transaction left open by a frozen station is cut off by the server after
    /// this long, releasing its locks. Below a third of the lease
    /// ([`PgSettings::bound_waits_by`]), so neither can stall a lease keeper.
    pub lock_timeout: Duration,
}

impl PgSettings {
    /// Settings for `url` with the default deadlines (5 s to connect, 15 s a statement,
    /// lock waits bounded for the default 30 s lease).
    pub fn new(url: impl Into<String>) -> PgSettings {
        let mut s = PgSettings { url: url.into(), password: None, ca_file: None, connect_timeout: Duration::from_secs(5), statement_timeout: Duration::from_secs(15), lock_timeout: Duration::ZERO };
        s.bound_waits_by(Duration::from_secs(30));
        s
    }

    /// Bound lock waits and idle transactions by a quarter of `lease` (at least 250 ms,
    /// at most the statement deadline): under the lease/3 margin a station keeps before
    /// any side effect, so a frozen station's open transaction never outlives it.
    pub fn bound_waits_by(&mut self, lease: Duration) {
        self.lock_timeout = (lease / 4).clamp(Duration::from_millis(250), self.statement_timeout);
    }
}

/// Whether the URL needs TLS, and the parsed connection settings.
struct Target {
    config: tokio_postgres::Config,
    tls: bool,
    display: String,
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) || host.starts_with('/')
}

fn bad_url(url: &str, why: &str) -> JournalError {
    JournalError::Config(format!("journal.url `{}`: {why}", redact(url)))
}

/// The URL as it may be shown: without a password, should one be there.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

fn target(s: &PgSettings) -> Result<Target, JournalError> {
    let mut u = url::Url::parse(&s.url).map_err(|e| bad_url(&s.url, &format!("{e}; expected postgres://user@host:5432/database")))?;
    if !matches!(u.scheme(), "postgres" | "postgresql") {
        return Err(bad_url(&s.url, "is not a postgres:// URL"));
    }
    if u.password().is_some() {
        return Err(bad_url(&s.url, "holds a password: remove it and name an environment variable (journal.password_env) or a file (journal.password_file) instead"));
    }
    let host = u.host_str().unwrap_or("").to_string();
    if host.is_empty() {
        return Err(bad_url(&s.url, "names no host"));
    }
    // sslmode is ours to interpret: TLS is verified whenever it is on.
    let mut sslmode = None;
    let rest: Vec<(String, String)> = u.query_pairs().filter(|(k, _)| k != "sslmode").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    for (k, v) in u.query_pairs() {
        if k == "sslmode" {
            sslmode = Some(v.into_owned());
        }
    }
    u.set_query(None);
    if !rest.is_empty() {
        u.query_pairs_mut().extend_pairs(rest);
    }
    let tls = match sslmode.as_deref() {
        None | Some("require" | "verify-ca" | "verify-full" | "prefer") => true,
        Some("disable") if is_loopback(&host) => false,
        Some("disable") => return Err(bad_url(&s.url, &format!("sslmode=disable is only allowed for a database on this machine; {host} is reached over the network, so TLS stays on (give journal.ca_file for a private CA)"))),
        Some(other) => return Err(bad_url(&s.url, &format!("sslmode={other} is not known; use require (the default, verified TLS) or disable (this machine only)"))),
    };
    let mut config: tokio_postgres::Config = u.as_str().parse().map_err(|e| bad_url(&s.url, &format!("{e}")))?;
    if let Some(p) = &s.password {
        config.password(p.expose());
    }
    config.connect_timeout(s.connect_timeout).keepalives(true).keepalives_idle(Duration::from_secs(10)).application_name("keystation");
    // Per session, so a DBA's server defaults do not matter (see `PgSettings::lock_timeout`).
    let bound = s.lock_timeout.as_millis().max(1);
    config.options(format!("-c lock_timeout={bound} -c idle_in_transaction_session_timeout={bound}"));
    config.ssl_mode(if tls { tokio_postgres::config::SslMode::Require } else { tokio_postgres::config::SslMode::Disable });
    Ok(Target { config, tls, display: redact(&s.url) })
}

fn tls_connector(ca_file: Option<&PathBuf>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, JournalError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| JournalError::Config(format!("journal.ca_file {}: not a readable PEM certificate bundle ({e})", path.display())))?;
            if certs.is_empty() {
                return Err(JournalError::Config(format!("journal.ca_file {} holds no certificates", path.display())));
            }
            for c in certs {
                roots.add(c).map_err(|e| JournalError::Config(format!("journal.ca_file {}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(JournalError::Config("TLS to the journal database: this system has no trusted CA certificates; install them (Debian: apt-get install ca-certificates) or give journal.ca_file".into()));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JournalError::Config(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => (*v as i16).to_sql(ty, out),
                Type::INT4 => (*v as i32).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Text(t) => match *ty {
                Type::INT8 => t.parse::<i64>()?.to_sql(ty, out),
                _ => t.as_str().to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn read_row(r: &tokio_postgres::Row) -> Result<Row, JournalError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
            Type::INT4 => r.try_get::<_, Option<i32>>(i).map(|v| v.map(|v| Value::Int(v as i64))),
            Type::INT2 => r.try_get::<_, Option<i16>>(i).map(|v| v.map(|v| Value::Int(v as i64))),
            Type::BOOL => r.try_get::<_, Option<bool>>(i).map(|v| v.map(|v| Value::Int(v as i64))),
            _ => r.try_get::<_, Option<String>>(i).map(|v| v.map(Value::Text)),
        }
        .map_err(|e| JournalError::Corrupt(format!("column {}: {e}", c.name())))?;
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// A journal in a PostgreSQL database.
pub struct PgBackend {
    rt: Option<tokio::runtime::Runtime>,
    settings: PgSettings,
    target_display: String,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    in_commit: bool,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend").field("url", &self.target_display).finish_non_exhaustive()
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        self.client = None;
        // May be dropped inside async code: never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgBackend {
    /// Connect (and check the URL, TLS and password settings).
    pub fn connect(settings: PgSettings) -> Result<PgBackend, JournalError> {
        let t = target(&settings)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| JournalError::Task(e.to_string()))?;
        let mut b = PgBackend { rt: Some(rt), settings, target_display: t.display, client: None, statements: HashMap::new(), in_commit: false };
        b.ensure_connected()?;
        Ok(b)
    }

    fn unreachable(&self, message: impl Into<String>) -> JournalError {
        JournalError::Unreachable { location: self.target_display.clone(), message: message.into(), commit_unknown: self.in_commit }
    }

    /// Run `fut` to completion on this backend's runtime, within `deadline`.
    fn wait<T>(&self, deadline: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
        let rt = self.rt.as_ref().expect("runtime lives as long as the backend");
        let run = || rt.block_on(async { tokio::time::timeout(deadline, fut).await.ok() });
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(run),
            _ => run(),
        }
    }

    fn ensure_connected(&mut self) -> Result<(), JournalError> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.client = None;
        self.statements.clear();
        let t = target(&self.settings)?;
        let deadline = self.settings.connect_timeout + Duration::from_secs(1);
        let connected = if t.tls {
            let tls = tls_connector(self.settings.ca_file.as_ref())?;
            self.wait(deadline, async {
                let (client, conn) = t.config.connect(tls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok::<_, tokio_postgres::Error>(client)
            })
        } else {
            self.wait(deadline, async {
                let (client, conn) = t.config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok::<_, tokio_postgres::Error>(client)
            })
        };
        match connected {
            None => Err(self.unreachable(format!("no answer within {:?}", self.settings.connect_timeout))),
            Some(Err(e)) => Err(self.classify(e)),
            Some(Ok(c)) => {
                self.client = Some(c);
                Ok(())
            }
        }
    }

    fn classify(&self, e: tokio_postgres::Error) -> JournalError {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            // Class 08 (connection), 57P0x (the server is shutting down or restarting),
            // 53 (out of resources): the database is not usable right now.
            if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
                return self.unreachable(db.message().to_string());
            }
            // 55P03: waited `lock_timeout` for another station's lock (a station frozen
            // mid-transaction); 25P03: this session sat idle in a transaction too long
            // (this station was the frozen one) and the server closed it; 40001/40P01:
            // serialization failure or deadlock. Nothing of the transaction was written:
            // like a lost connection, the caller retries (and the next call reconnects).
            if matches!(code, "55P03" | "25P03" | "40001" | "40P01") {
                return self.unreachable(format!("{} (SQLSTATE {code}: nothing was written; retried)", db.message()));
            }
            if code == "28P01" || code == "28000" {
                return JournalError::Config(format!("the journal database {} refused the login: {} (check journal.url's user and the password in journal.password_env / password_file)", self.target_display, db.message()));
            }
            return JournalError::Database { code: code.to_string(), message: db.message().to_string() };
        }
        let text = error_chain(&e);
        if text.contains("certificate") || text.contains("tls") || text.contains("TLS") {
            return JournalError::Config(format!("TLS to the journal database {} failed: {text} (check journal.ca_file, or the server's certificate and host name)", self.target_display));
        }
        self.unreachable(text)
    }

    /// The result of a call that ran under a deadline: `None` is the deadline passing.
    fn settle<T>(&mut self, r: Option<Result<T, tokio_postgres::Error>>, what: &str) -> Result<T, JournalError> {
        match r {
            None => Err(self.broken(self.unreachable(format!("no answer {what} within the deadline")))),
            Some(Err(e)) => {
                let e = self.classify(e);
                Err(self.broken(e))
            }
            Some(Ok(v)) => Ok(v),
        }
    }

    fn broken(&mut self, e: JournalError) -> JournalError {
        if matches!(e, JournalError::Unreachable { .. }) {
            self.client = None;
            self.statements.clear();
        }
        e
    }

    fn prepared(&mut self, sql: &str) -> Result<Statement, JournalError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        self.ensure_connected()?;
        let rendered = super::render(Dialect::Postgres, sql).into_owned();
        let client = self.client.as_ref().expect("connected");
        let r = self.wait(self.settings.statement_timeout, client.prepare(&rendered));
        let stmt = self.settle(r, "while preparing a statement")?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    fn run_batch(&mut self, sql: &str) -> Result<(), JournalError> {
        self.ensure_connected()?;
        let client = self.client.as_ref().expect("connected");
        let r = self.wait(self.settings.statement_timeout, client.batch_execute(sql));
        self.settle(r, "to a statement")
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<tokio_postgres::Row>, JournalError> {
        let stmt = self.prepared(sql)?;
        let client = self.client.as_ref().expect("connected");
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let r = self.wait(self.settings.statement_timeout, client.query(&stmt, &refs));
        self.settle(r, "to a query")
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

impl Backend for PgBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn location(&self) -> String {
        self.target_display.clone()
    }

    fn begin(&mut self, mode: TxMode) -> Result<(), JournalError> {
        self.in_commit = false;
        match mode {
            TxMode::Write(Durability::Relaxed) => self.run_batch("BEGIN; SET LOCAL synchronous_commit TO off"),
            TxMode::Write(Durability::Sync) | TxMode::Read => self.run_batch("BEGIN"),
        }
    }

    fn commit(&mut self) -> Result<(), JournalError> {
        // A connection lost during COMMIT leaves the outcome unknown: say so.
        self.in_commit = true;
        let r = self.run_batch("COMMIT");
        self.in_commit = false;
        r
    }

    fn rollback(&mut self) {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            let _ = self.run_batch("ROLLBACK");
        }
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, JournalError> {
        let stmt = self.prepared(sql)?;
        let client = self.client.as_ref().expect("connected");
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let r = self.wait(self.settings.statement_timeout, client.execute(&stmt, &refs));
        self.settle(r, "to a statement")
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, JournalError> {
        self.rows(sql, params)?.iter().map(read_row).collect()
    }

    fn insert(&mut self, sql: &str, params: &[Value]) -> Result<i64, JournalError> {
        let rows = self.rows(&format!("{sql} RETURNING id"), params)?;
        let row = rows.first().ok_or_else(|| JournalError::Corrupt("an insert returned no id".into()))?;
        read_row(row)?.int(0)
    }

    fn batch(&mut self, sql: &str) -> Result<(), JournalError> {
        let rendered = super::render(Dialect::Postgres, sql).into_owned();
        self.run_batch(&rendered)
    }

    fn explain(&mut self, sql: &str) -> Result<(Vec<String>, bool), JournalError> {
        // Parameters become typed sample values (the plan of a generic statement), and
        // sequential scans are priced out: a plan that still scans has no usable index.
        let stmt = self.prepared(sql)?;
        let mut text = super::render(Dialect::Postgres, sql).into_owned();
        for (i, ty) in stmt.params().iter().enumerate().rev() {
            let literal = match *ty {
                Type::INT8 | Type::INT4 | Type::INT2 => "1".to_string(),
                Type::BOOL => "true".to_string(),
                _ => format!("'x'::{}", ty.name()),
            };
            text = text.replace(&format!("${}", i + 1), &literal);
        }
        self.run_batch("SET enable_seqscan = off")?;
        let r = self.rows(&format!("EXPLAIN {text}"), &[]);
        let _ = self.run_batch("RESET enable_seqscan");
        let plan: Vec<String> = r?.iter().map(|r| r.try_get::<_, String>(0).unwrap_or_default()).collect();
        let scans = plan.iter().any(|l| l.contains("Seq Scan"));
        Ok((plan, scans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_shown_with_a_password() {
        let t = |u: &str| target(&PgSettings::new(u));
        assert!(t("postgres://ks@db.example:5432/journal").unwrap().tls, "TLS by default");
        assert!(!t("postgres://ks@127.0.0.1:5432/journal?sslmode=disable").unwrap().tls);
        let e = t("postgres://ks@db.example/journal?sslmode=disable").err().unwrap().to_string();
        assert!(e.contains("only allowed for a database on this machine"), "{e}");
        let e = t("postgres://ks:hunter2@db.example/journal").err().unwrap().to_string();
        assert!(e.contains("password_env") && !e.contains("hunter2"), "{e}");
        assert!(t("mysql://x@y/z").is_err());
        assert!(t("postgres://ks@db.example/j?sslmode=sometimes").is_err());
        assert_eq!(redact("postgres://a:b@h/d"), "postgres://a:***@h/d");
        let ok = t("postgres://ks@db.example:5433/journal?sslmode=verify-full&application_name=x").unwrap();
        assert_eq!(ok.config.get_ports(), &[5433]);
    }

    #[test]
    fn an_unreachable_database_is_an_error_within_the_deadline() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = PgSettings::new(format!("postgres://ks@127.0.0.1:{port}/j?sslmode=disable"));
        s.connect_timeout = Duration::from_millis(500);
        let started = std::time::Instant::now();
        let e = PgBackend::connect(s).err().unwrap();
        assert!(matches!(e, JournalError::Unreachable { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
