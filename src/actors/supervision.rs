//! What every supervised actor shares: restart back-off and turning panics into values.
//!
//! actix restarts a `Supervised` actor after `ctx.stop()`, but a panic inside a handler kills the actor for
//! good (its mailbox closes). So handlers run their work through [`catch_panic`] / [`catch_panic_sync`] and
//! stop the actor themselves when the work panicked or failed beyond repair; `Supervised::restarting` counts
//! the restart and `started` waits [`Backoff::delay`] before working again. A long-lived task outside any
//! actor (the `TurnBatcher`'s) runs under [`keep_running`], which starts it again when it panics.

use crate::health::Health;
use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// First restart delay; doubled per consecutive failure.
pub const RESTART_BASE_DELAY: Duration = Duration::from_millis(100);
/// Restarts never wait longer than this.
pub const RESTART_MAX_DELAY: Duration = Duration::from_secs(30);
/// The longest wait before trying a dependency (Redis, Telegram) again: an outage costs at most this much
/// after it ended, and a retry every 2 s is nothing to a Redis or to Telegram.
pub const DEPENDENCY_RETRY_MAX: Duration = Duration::from_secs(2);
/// Each wait is this share longer or shorter at random, so that many workers (and processes) that failed
/// together do not all try again at the same instant.
const JITTER: f64 = 0.2;

/// Exponential back-off: `base * 2^(failures-1)`, capped. No delay before the first failure.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: 0,
        }
    }

    /// Records a failure and returns how long to wait before the next try (with jitter).
    pub fn fail(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        jittered(self.delay())
    }

    /// The wait for the failures recorded so far (zero when there were none).
    pub fn delay(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(self.failures.saturating_sub(1).min(20));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// [`delay`](Self::delay) with jitter: the wait to take now.
    pub fn wait(&self) -> Duration {
        jittered(self.delay())
    }

    /// Called after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `d` made up to [`JITTER`] longer or shorter, from the clock's nanoseconds (no randomness needed beyond
/// spreading retries apart).
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    // A cheap mix of the nanoseconds, to [0, 1).
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let unit = mixed as f64 / (1u64 << 53) as f64;
    d.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs a future, turning a panic inside it into `Err(message)`.
pub async fn catch_panic<F: Future>(fut: F) -> Result<F::Output, String> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|p| panic_message(p.as_ref()))
}

/// Runs a closure, turning a panic inside it into `Err(message)`.
pub fn catch_panic_sync<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()))
}

/// Runs a task that serves the whole process, outside any actor, and starts it again (after `backoff`)
/// each time it panics; the restarts are counted in [`Health`] under `name` and logged. Returns when the
/// task returns (its work is over: e.g. every sender of its channel is gone). `task` makes a fresh run of
/// the task; state that must survive a restart (a channel's receiver) lives outside it.
pub async fn keep_running<F, Fut>(
    name: &'static str,
    health: Arc<Health>,
    mut backoff: Backoff,
    mut task: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        match catch_panic(task()).await {
            Ok(()) => return,
            Err(panic) => {
                let n = health.record_restart(name);
                let delay = backoff.fail();
                log::error!("{name} failed ({panic}); restarting it in {delay:?} (restart #{n})");
                actix_rt::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use actix::prelude::*;
    use std::sync::Arc;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.delay(), Duration::ZERO);
        for expected in [100, 200, 400] {
            let waited = b.fail();
            assert_eq!(b.delay(), Duration::from_millis(expected));
            let (low, high) = (expected * 8 / 10, expected * 12 / 10);
            assert!(
                (low..=high).contains(&u64::try_from(waited.as_millis()).unwrap()),
                "{waited:?} is {expected} ms ± 20 %"
            );
        }
        for _ in 0..40 {
            b.fail();
        }
        assert_eq!(b.delay(), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.delay(), Duration::ZERO);
    }

    #[actix_rt::test]
    async fn panics_become_values() {
        let r = catch_panic(async { panic!("boom") }).await;
        assert_eq!(r, Err::<(), _>("boom".to_string()));
        assert_eq!(catch_panic(async { 5 }).await, Ok(5));
        assert_eq!(
            catch_panic_sync(|| -> u8 { panic!("x {}", 1) }),
            Err("x 1".to_string())
        );
    }

    /// The pattern every actor follows, exercised with a handler that panics: the panic is caught, the
    /// actor stops, actix restarts it after the back-off, the restart is counted, and it answers again.
    struct Flaky {
        health: Arc<Health>,
        backoff: Backoff,
        ready: bool,
    }

    #[derive(Message)]
    #[rtype(result = "Result<u32, String>")]
    struct Work(bool);

    impl Actor for Flaky {
        type Context = Context<Self>;
        fn started(&mut self, ctx: &mut Context<Self>) {
            ctx.run_later(self.backoff.delay(), |act, _| act.ready = true);
        }
    }

    impl Supervised for Flaky {
        fn restarting(&mut self, _: &mut Context<Self>) {
            self.health.record_restart("flaky");
            self.backoff.fail();
            self.ready = false;
        }
    }

    impl Handler<Work> for Flaky {
        type Result = Result<u32, String>;
        fn handle(&mut self, msg: Work, ctx: &mut Context<Self>) -> Self::Result {
            if !self.ready {
                return Err("backing off".into());
            }
            let out = catch_panic_sync(|| if msg.0 { panic!("handler bug") } else { 7 });
            if out.is_err() {
                ctx.stop();
            }
            out
        }
    }

    #[actix_rt::test]
    async fn a_panicking_handler_is_restarted_with_backoff_and_counted() {
        // A back-off long against scheduling delays on a loaded machine, so "still backing off" is certain.
        const BACKOFF: Duration = Duration::from_millis(400);
        let health = Arc::new(Health::new());
        let addr = Supervisor::start({
            let health = health.clone();
            move |_| Flaky {
                health,
                backoff: Backoff::new(BACKOFF, Duration::from_secs(1)),
                ready: false,
            }
        });
        // Answers once its (zero) start delay has run.
        let ready_again = || async {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                match addr.send(Work(false)).await.unwrap() {
                    Ok(v) => return v,
                    Err(_) if std::time::Instant::now() < deadline => {
                        actix_rt::time::sleep(Duration::from_millis(10)).await
                    }
                    Err(e) => panic!("never ready again: {e}"),
                }
            }
        };
        assert_eq!(ready_again().await, 7);
        assert_eq!(
            addr.send(Work(true)).await.unwrap(),
            Err("handler bug".into())
        );
        let restarted = std::time::Instant::now();
        // Restarted, but still inside its back-off.
        assert_eq!(
            addr.send(Work(false)).await.unwrap(),
            Err("backing off".into())
        );
        assert_eq!(ready_again().await, 7);
        assert!(restarted.elapsed() >= BACKOFF - Duration::from_millis(50));
        assert_eq!(health.restarts().get("flaky"), Some(&1));
    }

    #[actix_rt::test]
    async fn a_task_that_panics_is_started_again_and_serves_the_messages_after_the_failure() {
        use std::rc::Rc;
        use tokio::sync::{mpsc, oneshot, Mutex};
        let health = Arc::new(Health::new());
        let (tx, rx) = mpsc::unbounded_channel::<(&'static str, oneshot::Sender<String>)>();
        // As the TurnBatcher keeps it: the receiver outlives a failed run of the task.
        let rx = Rc::new(Mutex::new(rx));
        actix_rt::spawn(keep_running(
            "echo_task",
            health.clone(),
            Backoff::new(Duration::from_millis(10), Duration::from_millis(100)),
            move || {
                let rx = rx.clone();
                async move {
                    let mut rx = rx.lock().await;
                    while let Some((text, reply)) = rx.recv().await {
                        assert_ne!(text, "boom", "a bug in the task");
                        let _ = reply.send(text.to_uppercase());
                    }
                }
            },
        ));
        let ask = |text: &'static str| {
            let (reply, answer) = oneshot::channel();
            tx.send((text, reply)).unwrap();
            answer
        };

        assert_eq!(ask("a").await.unwrap(), "A");
        assert!(ask("boom").await.is_err(), "the failed run drops its reply");
        assert_eq!(
            ask("b").await.unwrap(),
            "B",
            "served again after the restart"
        );
        assert_eq!(health.restarts().get("echo_task"), Some(&1));
    }
}
