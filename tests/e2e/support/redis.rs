//! A private `redis-server` per test: a free port, no persistence (unless asked), killed on drop.
//!
//! Tests use a real Redis rather than a fake because the bot's queue relies on exact Redis
//! semantics (blocking pops, Lua scripts, expiry) that a fake would only approximate. `stop`/`restart` let a
//! test simulate an outage on the same address the bot is configured with.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh `redis-server` may take to answer `PING`. It usually takes ~10 ms; the margin
/// is for a loaded CI machine running many tests at once.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How many free ports to try: another process may grab the port between our probe and Redis's
/// bind (the probe listener must be closed before Redis can bind it).
const PORT_ATTEMPTS: usize = 5;

/// Socket timeout for [`RedisServer::cmd`]: an assertion helper must fail, not hang, when Redis
/// is down.
const CMD_TIMEOUT: Duration = Duration::from_secs(5);

/// A `redis-server` child process on 127.0.0.1, with its working directory in a temp dir.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Holds `--dir` and the log file; deleted on drop.
    dir: tempfile::TempDir,
    persistence: Persistence,
}

/// How the server keeps its data across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persistence {
    /// Nothing is written to disk: fastest, and a restart starts empty.
    None,
    /// An append-only file fsynced on every write, so a restart keeps every acknowledged write.
    AofAlways,
    /// An append-only file fsynced once a second (`appendfsync everysec`): Redis's recommended
    /// production setting, and what the bot's docs ask for. A crash of the machine may lose the
    /// last second; a restart of Redis alone loses nothing.
    AofEverysec,
}

impl Persistence {
    fn args(self) -> &'static [&'static str] {
        match self {
            Persistence::None => &["--appendonly", "no"],
            Persistence::AofAlways => &["--appendonly", "yes", "--appendfsync", "always"],
            Persistence::AofEverysec => &["--appendonly", "yes", "--appendfsync", "everysec"],
        }
    }
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Panics with instructions when `redis-server` is not installed: a silently skipped
    /// integration test is worse than a loud failure.
    pub fn start() -> RedisServer {
        Self::start_with(Persistence::None)
    }

    /// Like [`start`](Self::start), but persistent: `--appendonly yes --appendfsync always`, and
    /// [`restart`](Self::restart) reloads the data. For tests of Redis restarts under load.
    pub fn start_durable() -> RedisServer {
        Self::start_with(Persistence::AofAlways)
    }

    /// Like [`start`](Self::start), configured as production should be (docs/queue.md):
    /// `--appendonly yes --appendfsync everysec`. [`restart`](Self::restart) reloads the data.
    /// For benchmarks, which should pay what a real deployment pays for persistence.
    pub fn start_with_aof_everysec() -> RedisServer {
        Self::start_with(Persistence::AofEverysec)
    }

    fn start_with(persistence: Persistence) -> RedisServer {
        let binary = find_redis_server();
        let dir = match tempfile::Builder::new().prefix("e2e-redis-").tempdir() {
            Ok(dir) => dir,
            Err(err) => panic!("cannot create a temp dir for redis-server: {err}"),
        };
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match launch(&binary, port, dir.path(), persistence) {
                Ok(child) => {
                    return RedisServer {
                        child: Some(child),
                        port,
                        dir,
                        persistence,
                    }
                }
                Err(why) => failures.push(format!("port {port}: {why}")),
            }
        }
        panic!(
            "redis-server did not start after {PORT_ATTEMPTS} attempts:\n{}\nlog:\n{}",
            failures.join("\n"),
            read_log(dir.path())
        );
    }

    /// `redis://127.0.0.1:PORT/0`, the value for the bot's `REDIS_URL`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id while it runs (for CPU and memory measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server process is currently running (false between `stop` and `restart`).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the server (SIGKILL, like a crash: no goodbye to clients) and reaps it.
    /// Data is lost unless the server is persistent (the last second may be lost with `everysec`).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts a fresh one on the SAME port, so a bot that keeps
    /// its `REDIS_URL` can reconnect. Waits for `PING`. The new server starts empty, unless the
    /// server is persistent ([`start_durable`](Self::start_durable),
    /// [`start_with_aof_everysec`](Self::start_with_aof_everysec)).
    pub fn restart(&mut self) {
        self.stop();
        let binary = find_redis_server();
        // The port was just released by our own process; Redis binds with SO_REUSEADDR, so a
        // few retries cover the rare case where the kernel has not let go of it yet.
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match launch(&binary, self.port, self.dir.path(), self.persistence) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(why) => last_error = why,
            }
        }
        panic!(
            "redis-server could not restart on port {}: {last_error}\nlog:\n{}",
            self.port,
            read_log(self.dir.path())
        );
    }

    /// Sends one command over a fresh connection and returns the reply in a readable form:
    /// simple strings and bulk strings as their text, integers as digits, nil as `(nil)`,
    /// errors as `ERR …` prefixed with `-`, arrays as their elements joined by `\n`.
    /// Panics if Redis cannot be reached.
    pub fn cmd(&self, args: &[&str]) -> String {
        match self.try_cmd(args) {
            Ok(reply) => reply.to_text(),
            Err(err) => panic!("redis {args:?} on port {} failed: {err}", self.port),
        }
    }

    /// Like [`cmd`](Self::cmd) but for integer replies (`LLEN`, `EXISTS`, `DBSIZE`, …).
    pub fn cmd_int(&self, args: &[&str]) -> i64 {
        let text = self.cmd(args);
        match text.parse() {
            Ok(n) => n,
            Err(_) => panic!("redis {args:?} did not return an integer: {text:?}"),
        }
    }

    /// `KEYS pattern`, sorted, for assertions about what the bot stored.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        match self.try_cmd(&["KEYS", pattern]) {
            Ok(Reply::Array(items)) => {
                let mut keys: Vec<String> = items.into_iter().map(|r| r.to_text()).collect();
                keys.sort();
                keys
            }
            Ok(other) => panic!("KEYS returned a non-array: {other:?}"),
            Err(err) => panic!("redis KEYS on port {} failed: {err}", self.port),
        }
    }

    /// One request/reply exchange over a new TCP connection, parsed as RESP2.
    pub fn try_cmd(&self, args: &[&str]) -> std::io::Result<Reply> {
        send_command(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A parsed RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
    NilArray,
}

impl Reply {
    /// The human-readable form documented on [`RedisServer::cmd`].
    pub fn to_text(&self) -> String {
        match self {
            Reply::Simple(s) => s.clone(),
            Reply::Error(e) => format!("-{e}"),
            Reply::Integer(n) => n.to_string(),
            Reply::Bulk(Some(s)) => s.clone(),
            Reply::Bulk(None) | Reply::NilArray => "(nil)".to_string(),
            Reply::Array(items) => items
                .iter()
                .map(Reply::to_text)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Locates `redis-server` on PATH, or panics with the fix.
fn find_redis_server() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "\n\n*** redis-server not found: run scripts/ensure-redis.sh or \
                 apt-get install redis-server ***\n\n"
            )
        })
}

/// A port that was free a moment ago. The probe listener is closed before returning, so the
/// port can be taken by someone else before Redis binds it: callers retry.
fn free_port() -> u16 {
    match TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(err) => panic!("cannot bind a probe socket on 127.0.0.1: {err}"),
    }
}

/// Spawns `redis-server` on `port` and waits until it answers `PING`.
///
/// "Answers PING" is not enough on its own: if the port was taken by another Redis, that one
/// would answer. So the `process_id` in `INFO server` must be our child's pid.
fn launch(binary: &Path, port: u16, dir: &Path, persistence: Persistence) -> Result<Child, String> {
    let port_arg = port.to_string();
    let log_file = dir.join("redis.log");
    let mut child = Command::new(binary)
        .args(["--port", &port_arg, "--bind", "127.0.0.1"])
        .args(["--save", "", "--daemonize", "no"])
        .args(persistence.args())
        .args(["--loglevel", "warning"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot spawn {}: {err}", binary.display()))?;
    let expected_pid = format!("process_id:{}", child.id());
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server exited early with {status}"));
        }
        let ours = matches!(send_command(port, &["PING"]), Ok(Reply::Simple(ref s)) if s == "PONG")
            && matches!(send_command(port, &["INFO", "server"]),
                Ok(Reply::Bulk(Some(ref info))) if info.lines().any(|l| l.trim() == expected_pid));
        if ours {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no PONG within {STARTUP_TIMEOUT:?}"));
        }
        // Poll with a deadline: redis-server offers no readiness signal other than answering.
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("redis.log")).unwrap_or_else(|_| "(no log)".to_string())
}

/// Writes one RESP2 array command and reads exactly one reply.
fn send_command(port: u16, args: &[&str]) -> std::io::Result<Reply> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, CMD_TIMEOUT)?;
    stream.set_read_timeout(Some(CMD_TIMEOUT))?;
    stream.set_write_timeout(Some(CMD_TIMEOUT))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    let mut reader = BufReader::new(stream);
    read_reply(&mut reader)
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before a reply",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| bad(format!("bad RESP length/integer: {line:?}")))
    };
    match kind {
        "+" => Ok(Reply::Simple(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Integer(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let len = usize::try_from(len).map_err(|_| bad(format!("bad length {len}")))?;
            let mut buf = vec![0u8; len + 2];
            reader.read_exact(&mut buf)?;
            buf.truncate(len);
            Ok(Reply::Bulk(Some(
                String::from_utf8_lossy(&buf).into_owned(),
            )))
        }
        "*" => {
            let n = number()?;
            if n < 0 {
                return Ok(Reply::NilArray);
            }
            (0..n)
                .map(|_| read_reply(reader))
                .collect::<Result<_, _>>()
                .map(Reply::Array)
        }
        _ => Err(bad(format!("unknown RESP reply: {line:?}"))),
    }
}
