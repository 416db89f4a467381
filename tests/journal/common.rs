//! The same tests on both backends: `both!(name, |db| { … })` makes `name::sqlite` and
//! `name::postgres`; `db.open()` gives a fresh journal, `db.open_again()` a second
//! connection to the same one (another process, another station).
use crate::postgres;
use keystation::secret::SecretString;
use keystation::station::journal::*;

pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    pub fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    /// `None` when PostgreSQL is not installed (and not required).
    pub fn postgres() -> Option<Db> {
        let cluster = postgres::shared()?;
        Some(Db::Postgres(cluster.create_database("journal")))
    }

    pub fn settings(url: &str) -> PgSettings {
        let mut s = PgSettings::new(format!("{url}?sslmode=disable"));
        s.password = Some(SecretString::new(postgres::shared().unwrap().password()));
        s
    }

    pub fn location(&self) -> JournalLocation {
        match self {
            Db::Sqlite(dir) => JournalLocation::File(dir.path().join("state/journal.sqlite")),
            Db::Postgres(url) => JournalLocation::Postgres(Db::settings(url)),
        }
    }

    pub fn open(&self) -> Journal {
        Journal::open_location(&self.location()).unwrap()
    }

    /// Another handle on the same journal, as another station.
    pub fn open_as(&self, station: &str) -> Journal {
        let mut j = self.open();
        j.set_identity(StationIdentity { name: station.into(), host: format!("{station}.example") });
        j
    }

}

/// One test body, run on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let f: fn(crate::common::Db) = $body;
                f(crate::common::Db::sqlite());
            }
            #[test]
            fn postgres() {
                let f: fn(crate::common::Db) = $body;
                if let Some(db) = crate::common::Db::postgres() {
                    f(db);
                }
            }
        }
    };
}

pub use crate::journal_jobs::*;
