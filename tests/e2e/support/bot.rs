//! The real bot binary as a child process, and [`TestEnv`], which wires it to the fakes.
//!
//! Tests run the binary rather than calling the library so that configuration parsing, logging,
//! signal handling and exit codes are tested exactly as deployed.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use super::{lock, FakeLlm, FakeTelegram, RedisServer};

/// The bot token every [`TestEnv`] uses; well-formed like a real one (`<bot id>:<secret>`).
pub const TEST_TOKEN: &str = "123456:TEST-secret-token-abc";

/// The user [`TestEnv`] allows by default (`ALLOWED_USER_IDS`).
pub const ALLOWED_USER: i64 = 1001;

/// The log line the bot writes once its HTTP server is bound (tests set `API_PORT=0`).
const LISTENING_MARKER: &str = "api listening on ";

/// How long [`TestEnv::spawn_bot`] waits for the port and for `/ready`: startup runs migrations
/// and connects to Redis, which takes well under a second, but tests run many bots in parallel.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Poll interval for process exit and `/ready`: there is no event to wait on for either.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The running bot. Dropping it kills the process.
pub struct BotProcess {
    child: Child,
    log: Arc<Mutex<String>>,
    /// Woken by the reader threads after every line and at end of output.
    log_changed: Arc<Notify>,
    /// Output streams still open: 0 once the process has exited (it closed both pipes).
    open_streams: Arc<AtomicUsize>,
    readers: Vec<JoinHandle<()>>,
    port: Option<u16>,
}

impl BotProcess {
    /// The binary Cargo built for this test run, or the one named by `E2E_BOT_BINARY` (to run the
    /// whole suite against a release build: `E2E_BOT_BINARY=target/release/aichat-telegram-bot`).
    pub fn binary() -> PathBuf {
        match std::env::var_os("E2E_BOT_BINARY") {
            Some(path) => std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path)),
            None => PathBuf::from(env!("CARGO_BIN_EXE_aichat-telegram-bot")),
        }
    }

    /// Starts the bot with exactly `env` (plus `PATH`) in `workdir`. Its stdout and stderr are
    /// collected into [`logs`](Self::logs) and echoed to the test's stderr as `[bot] …`.
    pub fn spawn(env: &[(String, String)], workdir: &Path) -> BotProcess {
        let mut command = Command::new(Self::binary());
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(err) => panic!("cannot spawn {}: {err}", Self::binary().display()),
        };
        let log = Arc::new(Mutex::new(String::new()));
        let log_changed = Arc::new(Notify::new());
        let open_streams = Arc::new(AtomicUsize::new(2));
        let mut readers = Vec::new();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Output {
                log: log.clone(),
                changed: log_changed.clone(),
                open_streams: open_streams.clone(),
            };
            readers.push(spawn_reader(stream, output));
        }
        BotProcess {
            child,
            log,
            log_changed,
            open_streams,
            readers,
            port: None,
        }
    }

    /// Runs the bot until it exits (e.g. a configuration error) and returns its status and
    /// combined output. Panics, with the output, if it is still running after `timeout`.
    pub async fn run_to_exit(
        env: &[(String, String)],
        workdir: &Path,
        timeout: Duration,
    ) -> (ExitStatus, String) {
        let mut bot = BotProcess::spawn(env, workdir);
        match bot.wait_exit(timeout).await {
            Some(status) => (status, bot.logs()),
            None => {
                bot.kill();
                panic!(
                    "the bot was expected to exit but still ran after {timeout:?}; output:\n{}",
                    bot.logs()
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the bot printed so far (stdout and stderr interleaved by line).
    pub fn logs(&self) -> String {
        lock(&self.log).clone()
    }

    /// Waits until the output contains `needle`; panics with the output after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let what = format!("log line containing {needle:?}");
        self.wait_log_until(&what, timeout, |log| log.contains(needle))
            .await;
    }

    /// Waits for `api listening on 127.0.0.1:PORT` and returns the port.
    pub async fn wait_for_port(&mut self, timeout: Duration) -> u16 {
        if let Some(port) = self.port {
            return port;
        }
        self.wait_log_until("the `api listening on` line", timeout, |log| {
            listening_port(log).is_some()
        })
        .await;
        let port = listening_port(&self.logs()).unwrap_or(0);
        self.port = Some(port);
        port
    }

    /// `http://127.0.0.1:PORT` of the bot's HTTP API. Panics if the port is not known yet.
    pub fn base_url(&self) -> String {
        match self.port.or_else(|| listening_port(&self.logs())) {
            Some(port) => format!("http://127.0.0.1:{port}"),
            None => panic!(
                "the bot has not logged its port yet (call wait_for_port first); output:\n{}",
                self.logs()
            ),
        }
    }

    /// Polls `GET /ready` until it answers 200. Panics with the output after `timeout`, or at
    /// once if the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let port = self.wait_for_port(timeout).await;
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(2))
            .finish();
        let url = format!("http://127.0.0.1:{port}/ready");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the bot exited with {status} before it was ready; output:\n{}",
                    self.logs()
                );
            }
            let last = match client.get(&url).send().await {
                Ok(resp) if resp.status().as_u16() == 200 => return,
                Ok(mut resp) => {
                    let body = resp
                        .body()
                        .await
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    format!("{} {}", resp.status(), body.unwrap_or_default())
                }
                Err(err) => err.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "the bot was not ready after {timeout:?} (last /ready: {last}); output:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `GET path` on the bot's HTTP API: status and JSON body (a non-JSON body comes back as a
    /// JSON string).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.request_json("GET", path, &[], None).await
    }

    /// `GET path` on the admin API with `token` as its bearer token: status and JSON body.
    pub async fn get_json_as(&self, path: &str, token: &str) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        self.request_json("GET", path, &[("Authorization", &auth)], None)
            .await
    }

    /// Any request on the bot's HTTP API, with extra headers (e.g. `Authorization`) and an
    /// optional JSON body.
    pub async fn request_json(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base_url());
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .finish();
        let method = match awc::http::Method::from_bytes(method.as_bytes()) {
            Ok(method) => method,
            Err(err) => panic!("bad HTTP method {method:?}: {err}"),
        };
        let mut request = client.request(method.clone(), &url);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(err) => panic!("{method} {url} failed: {err}; bot output:\n{}", self.logs()),
        };
        let status = resp.status().as_u16();
        let bytes = match resp.body().limit(16 * 1024 * 1024).await {
            Ok(bytes) => bytes,
            Err(err) => panic!("{method} {url}: cannot read the body: {err}"),
        };
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// SIGKILL (a crash, no cleanup), then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
    }

    /// SIGTERM (a polite shutdown), then waits up to `timeout`. `None` if it did not exit.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        match Command::new("kill").args(["-TERM", &pid]).status() {
            Ok(status) if status.success() => {}
            Ok(status) => panic!("`kill -TERM {pid}` failed with {status}"),
            Err(err) => panic!("cannot run `kill -TERM {pid}`: {err}"),
        }
        self.wait_exit(timeout).await
    }

    /// Waits up to `timeout` for the process to exit on its own. Once it has, the output is
    /// complete (the reader threads are joined).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.join_readers();
                    return Some(status);
                }
                Ok(None) => {}
                Err(err) => panic!("cannot wait for the bot: {err}"),
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn wait_log_until(&self, what: &str, timeout: Duration, cond: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = std::pin::pin!(self.log_changed.notified());
            notified.as_mut().enable();
            if cond(&lock(&self.log)) {
                return;
            }
            // A process that closed its output will never print the awaited line: fail at once.
            if self.open_streams.load(Ordering::SeqCst) == 0 {
                panic!(
                    "waiting for {what}, but the process is gone; bot output:\n{}",
                    self.logs()
                );
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if cond(&lock(&self.log)) {
                    return;
                }
                panic!(
                    "timed out after {timeout:?} waiting for {what}; bot output:\n{}",
                    self.logs()
                );
            }
        }
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a reader thread puts the child's output.
struct Output {
    log: Arc<Mutex<String>>,
    changed: Arc<Notify>,
    open_streams: Arc<AtomicUsize>,
}

/// Copies lines from the child into the shared log (and the test's stderr) until EOF.
fn spawn_reader(stream: Box<dyn Read + Send>, output: Output) -> JoinHandle<()> {
    let Output {
        log,
        changed,
        open_streams,
    } = output;
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\r', '\n']);
                    eprintln!("[bot] {line}");
                    {
                        let mut log = lock(&log);
                        log.push_str(line);
                        log.push('\n');
                    }
                    changed.notify_waiters();
                }
            }
        }
        open_streams.fetch_sub(1, Ordering::SeqCst);
        changed.notify_waiters();
    })
}

/// The port from the first `api listening on HOST:PORT` line.
fn listening_port(log: &str) -> Option<u16> {
    let (_, rest) = log.split_once(LISTENING_MARKER)?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit(':')
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// Everything a bot needs for an end-to-end test: a Redis, the two fakes, a working directory,
/// and the environment pointing the bot at them. Override variables with [`set`](Self::set) or
/// [`with`](Self::with) before spawning.
pub struct TestEnv {
    pub redis: RedisServer,
    pub telegram: FakeTelegram,
    pub llm: FakeLlm,
    /// The bot's working directory; holds the SQLite database. Deleted on drop.
    pub dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl TestEnv {
    /// Starts Redis and both fakes. Must be called inside an actix runtime.
    pub fn start() -> TestEnv {
        Self::with_redis(RedisServer::start())
    }

    /// Like [`start`](Self::start) with a persistent Redis (see [`RedisServer::start_durable`]).
    pub fn start_durable() -> TestEnv {
        Self::with_redis(RedisServer::start_durable())
    }

    /// Like [`start`](Self::start) with Redis configured as in production: append-only file,
    /// fsynced every second (see [`RedisServer::start_with_aof_everysec`]).
    pub fn start_with_aof_everysec() -> TestEnv {
        Self::with_redis(RedisServer::start_with_aof_everysec())
    }

    fn with_redis(redis: RedisServer) -> TestEnv {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let telegram = FakeTelegram::start(TEST_TOKEN);
        let llm = FakeLlm::start();
        let dir = match tempfile::Builder::new().prefix("e2e-bot-").tempdir() {
            Ok(dir) => dir,
            Err(err) => panic!("cannot create the bot's temp dir: {err}"),
        };
        // Unique per TestEnv, so even a shared Redis could not mix two tests' keys.
        let prefix = format!(
            "e2e-{}-{}:",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let vars = vec![
            ("TELEGRAM_BOT_TOKEN".to_string(), TEST_TOKEN.to_string()),
            ("TELEGRAM_API_URL".to_string(), telegram.url()),
            ("ALLOWED_USER_IDS".to_string(), ALLOWED_USER.to_string()),
            ("AICHAT_BASE_URL".to_string(), llm.url()),
            ("AICHAT_MODEL".to_string(), "test-model".to_string()),
            ("REDIS_URL".to_string(), redis.url()),
            (
                "DATABASE_URL".to_string(),
                dir.path().join("bot.db").display().to_string(),
            ),
            ("API_HOST".to_string(), "127.0.0.1".to_string()),
            ("API_PORT".to_string(), "0".to_string()),
            ("RUST_LOG".to_string(), "info".to_string()),
            ("REDIS_KEY_PREFIX".to_string(), prefix),
        ];
        TestEnv {
            redis,
            telegram,
            llm,
            dir,
            vars,
        }
    }

    /// Sets or replaces a variable.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut TestEnv {
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((key.to_string(), value)),
        }
        self
    }

    /// Builder form of [`set`](Self::set).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> TestEnv {
        self.set(key, value);
        self
    }

    /// Removes a variable (e.g. to test that a missing one is reported).
    pub fn unset(&mut self, key: &str) -> &mut TestEnv {
        self.vars.retain(|(k, _)| k != key);
        self
    }

    /// The variable's current value, if set.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn env(&self) -> Vec<(String, String)> {
        self.vars.clone()
    }

    pub fn workdir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the SQLite database the bot was told to use.
    pub fn database_path(&self) -> PathBuf {
        PathBuf::from(self.var("DATABASE_URL").unwrap_or_default())
    }

    /// Spawns another bot process on the same Redis, fakes and database, with `extra` settings on top of
    /// this environment's, and waits until `/ready` answers 200.
    pub async fn spawn_bot_with(&self, extra: &[(&str, &str)]) -> BotProcess {
        let mut vars = self.vars.clone();
        for (key, value) in extra {
            match vars.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.to_string(),
                None => vars.push((key.to_string(), value.to_string())),
            }
        }
        let mut bot = BotProcess::spawn(&vars, self.dir.path());
        bot.wait_ready(STARTUP_TIMEOUT).await;
        bot
    }

    /// Spawns the bot and waits until `/ready` answers 200.
    pub async fn spawn_bot(&self) -> BotProcess {
        let mut bot = self.spawn_bot_unready();
        bot.wait_ready(STARTUP_TIMEOUT).await;
        bot
    }

    /// Spawns the bot without waiting for anything.
    pub fn spawn_bot_unready(&self) -> BotProcess {
        BotProcess::spawn(&self.vars, self.dir.path())
    }

    /// Runs the bot with this environment until it exits (for configuration-error tests).
    pub async fn run_bot_to_exit(&self, timeout: Duration) -> (ExitStatus, String) {
        BotProcess::run_to_exit(&self.vars, self.dir.path(), timeout).await
    }
}
