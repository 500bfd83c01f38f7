//! SQLite through Diesel: the pool (WAL, busy timeout, foreign keys), embedded migrations, models, queries
//! and backups.
//! Knows nothing of actors; blocking, so callers run it off the async threads (the SessionManager's SyncArbiter).

pub mod attachments;
pub mod backup;
pub mod models;
pub mod queries;
pub mod schema;
pub mod spending;

use backup::BackupError;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::Path;
use std::time::Duration;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<ConnectionManager<SqliteConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// How long a writer waits for another writer's lock before failing.
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// SQLite's page cache per connection (its default is 2 MiB). A turn reads one chat's recent rows, which
/// this holds many times over; pages beyond it come from the operating system's file cache. With the default,
/// each connection's cache kept filling as the database grew, and the process grew with it for hours.
const PAGE_CACHE_KIB: u32 = 512;
/// Getting a pooled connection should be instant; waiting longer means something is stuck.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("database migrations failed: {0}")]
    Migration(String),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

/// What a request for the stored sessions fails with (the `SessionManager`'s replies carry it).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The database failed: no pooled connection, or a query.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The request could not be served otherwise: its handler panicked, a backup was refused, or a reply did
    /// not match its request.
    #[error("session manager failed: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for SessionError {
    fn from(e: diesel::result::Error) -> Self {
        SessionError::Db(DbError::Query(e))
    }
}

impl From<r2d2::Error> for SessionError {
    fn from(e: r2d2::Error) -> Self {
        SessionError::Db(DbError::Pool(e))
    }
}

impl From<BackupError> for SessionError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Query(e) => e.into(),
            other => SessionError::Internal(other.to_string()),
        }
    }
}

/// Pragmas for every pooled connection. (WAL is set once, before the pool opens: it is stored in the file,
/// and several connections switching a new file to WAL at once would contend for its lock.)
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA synchronous = NORMAL;
             PRAGMA cache_size = -{PAGE_CACHE_KIB};
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Opens (creating if needed) the database file and its directory, then runs pending migrations.
pub fn open(path: &Path, max_connections: u32) -> Result<DbPool, DbError> {
    let open_err = |reason: String| DbError::Open {
        path: path.display().to_string(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
    }
    let url = path.to_string_lossy().into_owned();
    {
        use diesel::Connection;
        let mut first = SqliteConnection::establish(&url).map_err(|e| open_err(e.to_string()))?;
        first
            .batch_execute(&format!(
                "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL;"
            ))
            .map_err(|e| open_err(e.to_string()))?;
    }
    let manager = ConnectionManager::<SqliteConnection>::new(url);
    let pool = Pool::builder()
        .max_size(max_connections.max(1))
        .connection_timeout(POOL_TIMEOUT)
        .connection_customizer(Box::new(Pragmas))
        .build(manager)
        .map_err(|e| open_err(e.to_string()))?;
    let mut conn = pool.get()?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(pool)
}

/// Checkpoints the WAL into the main file; called at shutdown so the file alone is a complete copy.
pub fn checkpoint(pool: &DbPool) -> Result<(), DbError> {
    let mut conn = pool.get()?;
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::queries;
    use crate::ids::{ChatId, Conversation};
    use diesel::Connection;

    #[test]
    fn the_topics_migration_keeps_each_chats_prompt_history_and_usage_as_its_main_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            // The schema before forum topics (the first four migrations), with a chat in it.
            for _ in 0..4 {
                conn.run_next_migration(MIGRATIONS).unwrap();
            }
            conn.batch_execute(
                "INSERT INTO chats (id, kind, system_prompt, created_at, updated_at)
                     VALUES (5, 'private', 'Be brief.', 1, 1), (6, 'private', NULL, 1, 1);
                 INSERT INTO messages (chat_id, role, content, tokens, telegram_message_id, created_at)
                     VALUES (5, 'user', 'hi', 3, 1, 1);
                 INSERT INTO usage (chat_id, prompt_tokens, completion_tokens, requests)
                     VALUES (5, 30, 5, 1);",
            )
            .unwrap();
        }

        let pool = open(&path, 1).unwrap();
        let mut conn = pool.get().unwrap();

        let five = Conversation::chat(ChatId(5));
        let prompt = queries::system_prompt(&mut conn, five).unwrap();
        assert_eq!(prompt.as_deref(), Some("Be brief."));
        let six = Conversation::chat(ChatId(6));
        assert_eq!(queries::system_prompt(&mut conn, six).unwrap(), None);
        let history = queries::active_history(&mut conn, five).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].conversation(), five);
        let stats = queries::chat_stats(&mut conn, queries::Scope::Conversation(five)).unwrap();
        assert_eq!((stats.prompt_tokens, stats.completion_tokens), (30, 5));
    }
}
