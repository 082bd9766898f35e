//! Where the server keeps runs: their streamed event chains, and for each
//! submitted pack its digest, verdict and report. [`Store`] is what the
//! server needs; [`SqliteStore`] is the embedded default (one file, WAL,
//! no setup). Packs themselves are files under the data directory, named
//! by their SHA-256.

use std::path::Path;
use std::sync::Mutex;

use capsule::Digest;
use capsule::stream::StreamVerdict;
use rusqlite::{OptionalExtension as _, params};
use serde_json::Value;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("the run store failed to {what}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// Two writers raced for the same event.
    #[error("event {seq} of run `{run_id}` was stored by another connection first")]
    Raced {
        /// The run.
        run_id: String,
        /// The event.
        seq: u64,
    },
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Its id.
    pub run_id: String,
    /// The project whose token started it.
    pub project: String,
    /// When the server first heard of it (ms since the epoch, the
    /// server's clock).
    pub created_ms: u64,
    /// Events stored.
    pub count: u64,
    /// The hash of the last stored event.
    pub head: Digest,
    /// Its pack's verification, once submitted.
    pub result: Option<RunResult>,
}

/// What the server found of a run's pack.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// `accepted` or `rejected`, at the server's profile.
    pub verdict: String,
    /// How the stream compares with the pack.
    pub stream: StreamVerdict,
    /// The verification report.
    pub report: Value,
    /// The pack's SHA-256 (hex), its file name under `packs/`.
    pub pack_sha256: String,
}

/// What the server needs of a store. Every call is short; the server
/// serializes the appends of one run.
pub trait Store: Send + Sync + 'static {
    /// The run, if it is known.
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError>;
    /// Creates the run for `project` unless it exists; returns it as stored.
    fn open_run(&self, run_id: &str, project: &str, now_ms: u64) -> Result<RunRow, StoreError>;
    /// Stores event `seq` (which must be the run's count) with its line and
    /// chain hash, as one transaction.
    fn append(&self, run_id: &str, seq: u64, line: &[u8], hash: Digest) -> Result<(), StoreError>;
    /// The stored line of event `seq`.
    fn event(&self, run_id: &str, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// The stored lines from `from` on, at most `limit`.
    fn events(&self, run_id: &str, from: u64, limit: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Records the verification of the run's pack.
    fn set_result(&self, run_id: &str, result: &RunResult) -> Result<(), StoreError>;
    /// The most recent runs, newest first.
    fn runs(&self, limit: u64) -> Result<Vec<RunRow>, StoreError>;
}

/// The embedded SQLite store.
pub struct SqliteStore {
    db: Mutex<rusqlite::Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    head TEXT NOT NULL,
    verdict TEXT,
    stream TEXT,
    report TEXT,
    pack_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_ms DESC);
";

fn sql(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { what, source }
}

fn stream_verdict(s: &str) -> StreamVerdict {
    match s {
        "matches" => StreamVerdict::Matches,
        "incomplete" => StreamVerdict::Incomplete,
        "mismatch" => StreamVerdict::Mismatch,
        "unchecked" => StreamVerdict::Unchecked,
        _ => StreamVerdict::NotStreamed,
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    let head: String = r.get(4)?;
    let verdict: Option<String> = r.get(5)?;
    let result = match verdict {
        None => None,
        Some(verdict) => {
            let stream: Option<String> = r.get(6)?;
            let report: Option<String> = r.get(7)?;
            Some(RunResult {
                verdict,
                stream: stream_verdict(stream.as_deref().unwrap_or_default()),
                report: report.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null),
                pack_sha256: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            })
        }
    };
    Ok(RunRow {
        run_id: r.get(0)?,
        project: r.get(1)?,
        created_ms: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
        count: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
        head: head.parse().unwrap_or(Digest::ZERO),
        result,
    })
}

const COLUMNS: &str = "run_id, project, created_ms, count, head, verdict, stream, report, pack_sha256";

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let db = rusqlite::Connection::open(path).map_err(sql("open the database"))?;
        db.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql("set the busy timeout"))?;
        db.execute_batch(SCHEMA).map_err(sql("create the tables"))?;
        Ok(SqliteStore { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        // A panic while holding the lock leaves the connection usable:
        // every write is one statement or one transaction.
        self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for SqliteStore {
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        self.db()
            .query_row(&format!("SELECT {COLUMNS} FROM runs WHERE run_id = ?1"), params![run_id], row)
            .optional()
            .map_err(sql("read a run"))
    }

    fn open_run(&self, run_id: &str, project: &str, now_ms: u64) -> Result<RunRow, StoreError> {
        let db = self.db();
        db.execute(
            "INSERT OR IGNORE INTO runs (run_id, project, created_ms, count, head) VALUES (?1, ?2, ?3, 0, ?4)",
            params![run_id, project, int(now_ms), Digest::ZERO.to_string()],
        )
        .map_err(sql("create a run"))?;
        db.query_row(&format!("SELECT {COLUMNS} FROM runs WHERE run_id = ?1"), params![run_id], row)
            .map_err(sql("read a run"))
    }

    fn append(&self, run_id: &str, seq: u64, line: &[u8], hash: Digest) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(sql("begin an append"))?;
        let moved = tx
            .execute(
                "UPDATE runs SET count = count + 1, head = ?3 WHERE run_id = ?1 AND count = ?2",
                params![run_id, int(seq), hash.to_string()],
            )
            .map_err(sql("advance a run"))?;
        if moved != 1 {
            return Err(StoreError::Raced { run_id: run_id.to_owned(), seq });
        }
        tx.execute("INSERT INTO events (run_id, seq, line) VALUES (?1, ?2, ?3)", params![run_id, int(seq), line])
            .map_err(sql("store an event"))?;
        tx.commit().map_err(sql("commit an append"))
    }

    fn event(&self, run_id: &str, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db()
            .query_row("SELECT line FROM events WHERE run_id = ?1 AND seq = ?2", params![run_id, int(seq)], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql("read an event"))
    }

    fn events(&self, run_id: &str, from: u64, limit: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let db = self.db();
        let mut q = db
            .prepare_cached("SELECT line FROM events WHERE run_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")
            .map_err(sql("read events"))?;
        let rows = q.query_map(params![run_id, int(from), int(limit)], |r| r.get(0)).map_err(sql("read events"))?;
        rows.collect::<Result<Vec<Vec<u8>>, _>>().map_err(sql("read events"))
    }

    fn set_result(&self, run_id: &str, r: &RunResult) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE runs SET verdict = ?2, stream = ?3, report = ?4, pack_sha256 = ?5 WHERE run_id = ?1",
                params![run_id, r.verdict, r.stream.as_str(), r.report.to_string(), r.pack_sha256],
            )
            .map_err(sql("record a verdict"))?;
        Ok(())
    }

    fn runs(&self, limit: u64) -> Result<Vec<RunRow>, StoreError> {
        let db = self.db();
        let mut q = db
            .prepare_cached(&format!("SELECT {COLUMNS} FROM runs ORDER BY created_ms DESC, run_id LIMIT ?1"))
            .map_err(sql("list runs"))?;
        let rows = q.query_map(params![int(limit)], row).map_err(sql("list runs"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql("list runs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_events_round_trip_and_appends_are_ordered() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let s = SqliteStore::open(&dir.path().join("runs.sqlite")).expect("opens");
        let r = s.open_run("r1", "octo", 5).expect("a run");
        assert_eq!((r.count, r.head, r.project.as_str()), (0, Digest::ZERO, "octo"));
        let again = s.open_run("r1", "mallory", 9).expect("the same run");
        assert_eq!(again.project, "octo", "a run keeps its project");
        let h = Digest([7; 32]);
        s.append("r1", 0, b"line0", h).expect("appends");
        assert!(matches!(s.append("r1", 0, b"other", h), Err(StoreError::Raced { seq: 0, .. })));
        assert!(matches!(s.append("r1", 2, b"gap", h), Err(StoreError::Raced { seq: 2, .. })));
        s.append("r1", 1, b"line1", h).expect("appends");
        assert_eq!(s.events("r1", 0, 10).expect("reads"), [b"line0".to_vec(), b"line1".to_vec()]);
        assert_eq!(s.event("r1", 1).expect("reads"), Some(b"line1".to_vec()));
        let result = RunResult {
            verdict: "accepted".into(),
            stream: StreamVerdict::Matches,
            report: serde_json::json!({"verdict": "accepted"}),
            pack_sha256: "ab".into(),
        };
        s.set_result("r1", &result).expect("records");
        let r = s.run("r1").expect("reads").expect("exists");
        assert_eq!((r.count, r.head, r.result), (2, h, Some(result)));
        // Reopened: everything is still there.
        drop(s);
        let s = SqliteStore::open(&dir.path().join("runs.sqlite")).expect("reopens");
        assert_eq!(s.runs(10).expect("lists").len(), 1);
        assert_eq!(s.run("r1").expect("reads").map(|r| r.count), Some(2));
    }
}
