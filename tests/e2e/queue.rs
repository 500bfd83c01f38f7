//! The Redis job queue as a library, against a real redis-server: priorities, per-chat order, leases,
//! retries, dead letters, de-duplication, merged messages, progress records, statistics and Redis restarts.
//! Each test has its own redis-server and its own key prefix.

use crate::support::RedisServer;
use crate::support::TakeOne;
use aichat_telegram_bot::commands::BotCommand;
use aichat_telegram_bot::ids::{ChatId, JobId, MessageId, TopicId, UpdateId, UserId};
use aichat_telegram_bot::queue::{
    ChatRef, FailOutcome, Job, JobKind, Lease, Priority, Progress, Queue, QueueError,
    QueueSettings, Taken,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Long enough that no lease expires unless a test means it to.
const LONG_LEASE: Duration = Duration::from_secs(30);

fn settings() -> QueueSettings {
    QueueSettings {
        lease: LONG_LEASE,
        max_attempts: 3,
        retry_base: Duration::from_millis(200),
        merge_window: Duration::ZERO,
    }
}

fn queue(redis: &RedisServer, prefix: &str, settings: QueueSettings) -> Queue {
    Queue::new(&redis.url(), prefix, settings).unwrap()
}

fn chat_ref(chat: i64) -> ChatRef {
    ChatRef {
        id: ChatId(chat),
        kind: "private".into(),
        title: None,
        topic: None,
    }
}

/// A text message `update` in `chat`.
fn text_job(update: i64, chat: i64, text: &str) -> Job {
    Job::from_update(
        UpdateId(update),
        JobKind::Chat {
            chat: chat_ref(chat),
            user_id: UserId(chat),
            message_id: MessageId(update),
            text: text.into(),
        },
    )
}

/// A `/stats` command `update` in `chat`.
fn command_job(update: i64, chat: i64) -> Job {
    Job::from_update(
        UpdateId(update),
        JobKind::Command {
            chat: chat_ref(chat),
            user_id: UserId(chat),
            message_id: MessageId(update),
            command: BotCommand::Stats,
        },
    )
}

fn compress_job(id: &str, chat: i64) -> Job {
    Job::internal(
        id.into(),
        JobKind::Compress {
            chat_id: ChatId(chat),
            topic: None,
            context_tokens: 5000,
        },
    )
}

/// Queues one job of an update; asserts it was new.
async fn push(q: &Queue, priority: Priority, job: Job) {
    let update = job.update_id.unwrap();
    let added = q.enqueue_updates(&[(update, priority, job)]).await.unwrap();
    assert_eq!(added, 1, "the update was queued");
}

/// Queues a text message `update` in `chat` at high priority.
async fn push_text(q: &Queue, update: i64, chat: i64, text: &str) {
    push(q, Priority::High, text_job(update, chat, text)).await;
}

/// Takes the next job, which must be a readable one.
async fn take(q: &Queue) -> Lease {
    match q.try_take().await.unwrap() {
        Some(Taken::Job(lease)) => lease,
        other => panic!("expected a job to take, got {other:?}"),
    }
}

async fn assert_nothing_takeable(q: &Queue, why: &str) {
    let taken = q.try_take().await.unwrap();
    assert!(taken.is_none(), "{why}, but got {taken:?}");
}

/// The leases of what `try_take_many` returned (each must be a job).
fn leases(taken: Vec<Taken>) -> Vec<Lease> {
    taken
        .into_iter()
        .map(|t| match t {
            Taken::Job(lease) => lease,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn text_of(job: &Job) -> &str {
    match &job.kind {
        JobKind::Chat { text, .. } => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn texts(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(text_of).collect()
}

/// What job `id`'s hash in Redis records of earlier attempts: what the next `take` hands to its lease.
fn stored_progress(redis: &RedisServer, prefix: &str, id: &JobId) -> Progress {
    let fields: Vec<String> = redis
        .cmd(&["HGETALL", &format!("{prefix}:job:{}", id.0)])
        .lines()
        .map(String::from)
        .collect();
    let mut progress = Progress::default();
    for pair in fields.chunks(2) {
        let [name, value] = pair else { continue };
        if name == "answer" {
            progress.answer = Some(value.clone());
        } else if name == "merged" {
            let payloads: Vec<String> = serde_json::from_str(value).unwrap();
            progress.merged = payloads.iter().map(|p| Job::decode(p).unwrap()).collect();
        } else if let Some(index) = name.strip_prefix("part:") {
            progress
                .parts
                .insert(index.parse().unwrap(), MessageId(value.parse().unwrap()));
        }
    }
    progress
}

fn list(redis: &RedisServer, key: &str) -> Vec<String> {
    let reply = redis.cmd(&["LRANGE", key, "0", "-1"]);
    reply
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[actix_web::test]
async fn jobs_are_taken_high_before_default_before_low_and_in_arrival_order_within_a_priority() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-prio", settings());
    // Each job in its own chat, so per-chat order plays no part.
    let arrivals = [
        (1, Priority::Low, "low 1"),
        (2, Priority::Default, "default 1"),
        (3, Priority::High, "high 1"),
        (4, Priority::Low, "low 2"),
        (5, Priority::High, "high 2"),
        (6, Priority::Default, "default 2"),
        (7, Priority::High, "high 3"),
    ];
    for (n, priority, text) in arrivals {
        push(&q, priority, text_job(n, 100 + n, text)).await;
    }

    let mut order = Vec::new();
    while let Some(taken) = q.try_take().await.unwrap() {
        let Taken::Job(lease) = taken else {
            panic!("unexpected {taken:?}");
        };
        order.push((lease.priority, text_of(&lease.job).to_string()));
    }

    let expected: Vec<(Priority, String)> = [
        (Priority::High, "high 1"),
        (Priority::High, "high 2"),
        (Priority::High, "high 3"),
        (Priority::Default, "default 1"),
        (Priority::Default, "default 2"),
        (Priority::Low, "low 1"),
        (Priority::Low, "low 2"),
    ]
    .into_iter()
    .map(|(p, t)| (p, t.to_string()))
    .collect();
    assert_eq!(order, expected);
}

#[actix_web::test]
async fn a_waiting_taker_wakes_as_soon_as_a_job_arrives() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-wake", settings());
    let mut taker = q.taker().await.unwrap();
    let started = Instant::now();

    let wait = async {
        let taken = taker.take_many(1).await.unwrap().into_iter().next();
        (taken, Instant::now())
    };
    let arrive = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        push_text(&q, 1, 10, "hello").await;
        Instant::now()
    };
    let ((taken, taken_at), enqueued_at) = tokio::join!(wait, arrive);

    let Some(Taken::Job(lease)) = taken else {
        panic!("the taker returned {taken:?} instead of the job");
    };
    assert_eq!(text_of(&lease.job), "hello");
    assert!(
        taken_at - started >= Duration::from_millis(250),
        "the taker really waited for the job"
    );
    assert!(
        taken_at.saturating_duration_since(enqueued_at) < Duration::from_secs(1),
        "taken {:?} after it was queued: the taker slept through the wake-up",
        taken_at.saturating_duration_since(enqueued_at)
    );
    assert!(
        taken_at - started < Duration::from_millis(1500),
        "took {:?}, close to the whole 2 s block",
        taken_at - started
    );
}

#[actix_web::test]
async fn two_waiting_takers_both_wake_when_two_jobs_arrive_in_one_batch() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-wake-two", settings());
    let mut first = q.taker().await.unwrap();
    let mut second = q.taker().await.unwrap();
    let started = Instant::now();

    // One wake token for the batch (the list went from empty to not empty); the taker it wakes takes one job
    // and, leaving one behind, wakes the other.
    let arrive = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let jobs = [
            (UpdateId(1), Priority::High, text_job(1, 10, "one")),
            (UpdateId(2), Priority::High, text_job(2, 20, "two")),
        ];
        assert_eq!(q.enqueue_updates(&jobs).await.unwrap(), 2);
    };
    let (a, b, ()) = tokio::join!(first.take_many(1), second.take_many(1), arrive);

    let mut got: Vec<String> = leases(a.unwrap())
        .iter()
        .chain(&leases(b.unwrap()))
        .map(|lease| text_of(&lease.job).to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["one", "two"]);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}: a taker slept through to the end of its 2 s block",
        started.elapsed()
    );
}

#[actix_web::test]
async fn several_jobs_are_taken_in_one_step_by_priority_and_never_more_than_asked() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-many", settings());
    push(&q, Priority::Default, text_job(1, 10, "long paste")).await;
    push_text(&q, 2, 20, "first").await;
    push_text(&q, 3, 30, "second").await;
    push_text(&q, 4, 40, "third").await;

    let three = leases(q.try_take_many(3).await.unwrap());
    let rest = leases(q.try_take_many(5).await.unwrap());

    fn texts_of(taken: &[Lease]) -> Vec<&str> {
        taken.iter().map(|l| text_of(&l.job)).collect()
    }
    assert_eq!(texts_of(&three), ["first", "second", "third"]);
    assert_eq!(texts_of(&rest), ["long paste"]);
    assert!(q.try_take_many(5).await.unwrap().is_empty());
    for lease in three.iter().chain(&rest) {
        assert!(q.ack(lease).await.unwrap());
    }
    assert_eq!(q.stats().await.unwrap().completed, 4);
}

#[actix_web::test]
async fn acknowledgements_sent_together_are_each_checked_against_their_own_lease() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-apply", settings());
    for (update, chat) in [(1, 10), (2, 20), (3, 30)] {
        push_text(&q, update, chat, "hi").await;
    }
    let leases = leases(q.try_take_many(3).await.unwrap());
    let stale = Lease {
        attempt: leases[1].attempt + 1,
        ..leases[1].clone()
    };

    // Sent at once, they travel to Redis together.
    let (a, b, c, d) = tokio::join!(
        q.ack(&leases[0]),
        q.ack(&stale),
        q.record_part(&leases[2], 0, MessageId(77)),
        q.ack(&leases[1]),
    );

    assert!(a.unwrap(), "the holder's ack");
    assert!(
        !b.unwrap(),
        "an ack for an attempt that does not hold the job changes nothing"
    );
    assert!(c.unwrap(), "the holder's record");
    assert!(d.unwrap(), "the real holder's ack still works");
    assert_eq!(
        stored_progress(&redis, "q-apply", &leases[2].id).parts,
        BTreeMap::from([(0, MessageId(77))])
    );
    assert_eq!(q.stats().await.unwrap().completed, 2);
}

#[actix_web::test]
async fn a_chats_second_job_waits_for_its_first_to_be_acknowledged_while_other_chats_go_on() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-chat-order", settings());
    push_text(&q, 1, 10, "chat 10 first").await;
    push_text(&q, 2, 10, "chat 10 second").await;
    push_text(&q, 3, 20, "chat 20 only").await;

    let first = take(&q).await;
    assert_eq!(text_of(&first.job), "chat 10 first");
    let other = take(&q).await;
    assert_eq!(
        text_of(&other.job),
        "chat 20 only",
        "another chat's job is not held up"
    );
    assert_nothing_takeable(&q, "chat 10's second job waits for its first").await;
    assert!(q.ack(&other).await.unwrap());
    assert_nothing_takeable(&q, "acknowledging another chat's job does not release it").await;

    assert!(q.ack(&first).await.unwrap());

    let second = take(&q).await;
    assert_eq!(text_of(&second.job), "chat 10 second");
    assert!(q.ack(&second).await.unwrap());
    assert!(
        redis.keys("q-chat-order:chat:*").is_empty(),
        "the chat's order keys are gone once it has nothing left: {:?}",
        redis.keys("q-chat-order:chat:*")
    );
}

#[actix_web::test]
async fn a_chats_second_job_runs_after_its_first_is_dead_lettered() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-chat-dead", settings());
    push_text(&q, 1, 10, "doomed").await;
    push_text(&q, 2, 10, "next").await;

    let first = take(&q).await;
    assert_nothing_takeable(&q, "the second waits while the first runs").await;
    let outcome = q.fail(&first, "bad request", false).await.unwrap();
    assert_eq!(outcome, FailOutcome::Dead);

    let second = take(&q).await;
    assert_eq!(text_of(&second.job), "next");
}

#[actix_web::test]
async fn a_job_whose_lease_expires_is_taken_again_and_only_the_new_holder_may_finish_it() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-lease",
        QueueSettings {
            lease: Duration::from_millis(300),
            ..settings()
        },
    );
    push_text(&q, 1, 10, "slow").await;
    let first = take(&q).await;
    assert_eq!(first.attempt, 1);
    assert_nothing_takeable(&q, "a leased job is not taken twice").await;

    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = take(&q).await;

    assert_eq!(second.id, first.id);
    assert_eq!(second.attempt, 2);
    assert!(!q.extend(&first).await.unwrap(), "the old lease is lost");
    assert!(!q.ack(&first).await.unwrap(), "the old holder may not ack");
    assert!(q.ack(&second).await.unwrap(), "the new holder may");
    let stats = q.stats().await.unwrap();
    assert_eq!(stats.lease_expired, 1);
    assert_eq!(stats.completed, 1);
    assert_eq!(stats.in_flight, 0);
}

#[actix_web::test]
async fn extending_a_lease_keeps_the_job_from_being_taken_again_past_its_first_expiry() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-extend",
        QueueSettings {
            lease: Duration::from_millis(300),
            ..settings()
        },
    );
    push_text(&q, 1, 10, "long answer").await;
    let lease = take(&q).await;
    let taken_at = Instant::now();

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(q.extend(&lease).await.unwrap());
    tokio::time::sleep(Duration::from_millis(150)).await;

    assert!(taken_at.elapsed() > Duration::from_millis(300));
    assert_nothing_takeable(&q, "an extended lease is still held past its first expiry").await;
    assert!(q.ack(&lease).await.unwrap());
    assert_eq!(q.stats().await.unwrap().lease_expired, 0);
}

#[actix_web::test]
async fn a_failed_job_is_retried_after_its_back_off_and_dead_lettered_after_its_last_attempt() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-retry", settings());
    push_text(&q, 1, 10, "flaky").await;

    let first = take(&q).await;
    let outcome = q.fail(&first, "llm 503", true).await.unwrap();
    assert_eq!(outcome, FailOutcome::Retry(Duration::from_millis(200)));
    assert_nothing_takeable(&q, "a retry waits for its back-off").await;
    assert_eq!(q.stats().await.unwrap().delayed, 1);
    tokio::time::sleep(Duration::from_millis(250)).await;

    let second = take(&q).await;
    assert_eq!((second.id.clone(), second.attempt), (first.id.clone(), 2));
    let outcome = q.fail(&second, "llm 503", true).await.unwrap();
    assert_eq!(
        outcome,
        FailOutcome::Retry(Duration::from_millis(400)),
        "the back-off doubles"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_nothing_takeable(&q, "the second back-off is longer").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let third = take(&q).await;
    assert_eq!(third.attempt, 3);
    let outcome = q.fail(&third, "llm 503 again", true).await.unwrap();

    assert_eq!(outcome, FailOutcome::Dead, "max_attempts = 3 were used");
    assert_nothing_takeable(&q, "a dead job is not retried").await;
    let stats = q.stats().await.unwrap();
    assert_eq!(stats.dead, 1);
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.delayed, 0);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(list(&redis, "q-retry:dead"), vec!["u1".to_string()]);
    assert_eq!(
        redis.cmd(&["HGET", "q-retry:deadjob:u1", "dead_reason"]),
        "llm 503 again"
    );
}

#[actix_web::test]
async fn a_failure_not_worth_retrying_dead_letters_the_job_at_once() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-no-retry", settings());
    push_text(&q, 1, 10, "forbidden").await;
    let lease = take(&q).await;

    let outcome = q.fail(&lease, "bot was blocked", false).await.unwrap();

    assert_eq!(outcome, FailOutcome::Dead);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_nothing_takeable(&q, "no retry after the back-off either").await;
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.dead, stats.retried, stats.delayed), (1, 0, 0));
    assert_eq!(
        redis.cmd(&["HGET", "q-no-retry:deadjob:u1", "dead_reason"]),
        "bot was blocked"
    );
}

/// Its holder's lease ended with the dead-letter: a second `fail` or a late `ack` must change nothing, or the
/// dead list gets the job twice and the operator loses its reason.
#[actix_web::test]
async fn a_dead_lettered_job_cannot_be_failed_again_or_acknowledged_by_its_last_holder() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-dead-twice", settings());
    push_text(&q, 1, 10, "forbidden").await;
    let lease = take(&q).await;
    assert_eq!(
        q.fail(&lease, "bot was blocked", false).await.unwrap(),
        FailOutcome::Dead
    );

    let second_fail = q.fail(&lease, "again", true).await.unwrap();
    let late_ack = q.ack(&lease).await.unwrap();

    let stats = q.stats().await.unwrap();
    let reason = redis.cmd(&["HGET", "q-dead-twice:deadjob:u1", "dead_reason"]);
    let dead = list(&redis, "q-dead-twice:dead");
    assert_eq!(
        (second_fail, late_ack),
        (FailOutcome::Stale, false),
        "after both: dead list {dead:?}, dead_lettered {}, completed {}, dead_reason {reason:?}",
        stats.dead_lettered,
        stats.completed
    );
    assert_eq!(dead, vec!["u1".to_string()]);
    assert_eq!(reason, "bot was blocked");
    assert_eq!((stats.dead_lettered, stats.completed), (1, 0));
}

#[actix_web::test]
async fn a_payload_that_cannot_be_read_is_dead_lettered_and_the_next_job_still_runs() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-poison", settings());
    redis.cmd(&[
        "HSET",
        "q-poison:job:poison-1",
        "payload",
        "\u{1}this is not json{",
        "prio",
        "high",
        "attempts",
        "0",
        "chat",
        "",
    ]);
    redis.cmd(&["RPUSH", "q-poison:ready:high", "poison-1"]);
    push_text(&q, 1, 10, "good").await;

    let taken = q.try_take().await.unwrap();

    match taken {
        Some(Taken::Unreadable { id, reason }) => {
            assert_eq!(id, JobId("poison-1".into()));
            assert!(!reason.to_string().is_empty());
        }
        other => panic!("expected the unreadable job, got {other:?}"),
    }
    assert_eq!(list(&redis, "q-poison:dead"), vec!["poison-1".to_string()]);
    let reason = redis.cmd(&["HGET", "q-poison:deadjob:poison-1", "dead_reason"]);
    assert!(reason.contains("not valid JSON"), "{reason}");
    let good = take(&q).await;
    assert_eq!(text_of(&good.job), "good");
    assert!(q.ack(&good).await.unwrap());
    assert_nothing_takeable(&q, "the poison is not taken again").await;
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.dead, stats.in_flight), (1, 0));
}

#[actix_web::test]
async fn a_job_taken_max_attempts_times_without_finishing_gives_up_and_its_chat_moves_on() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-gave-up",
        QueueSettings {
            lease: Duration::from_millis(200),
            max_attempts: 2,
            ..settings()
        },
    );
    push_text(&q, 1, 10, "crashes the worker").await;
    push_text(&q, 2, 10, "after it").await;

    // The worker "dies" holding the job each time: its lease just expires.
    for attempt in 1..=2 {
        let lease = take(&q).await;
        assert_eq!(
            (text_of(&lease.job), lease.attempt),
            ("crashes the worker", attempt)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let taken = q.try_take().await.unwrap();

    match taken {
        Some(Taken::GaveUp(job)) => assert_eq!(text_of(&job), "crashes the worker"),
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert_eq!(list(&redis, "q-gave-up:dead"), vec!["u1".to_string()]);
    assert!(redis
        .cmd(&["HGET", "q-gave-up:deadjob:u1", "dead_reason"])
        .contains("gave up"));
    let next = take(&q).await;
    assert_eq!(text_of(&next.job), "after it");
    assert_eq!(next.attempt, 1);
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.dead, stats.dead_lettered), (1, 1));
}

#[actix_web::test]
async fn a_redelivered_update_is_queued_only_once() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-dedup", settings());
    let job = text_job(42, 10, "hello");

    let first = q
        .enqueue_updates(&[(UpdateId(42), Priority::High, job.clone())])
        .await
        .unwrap();
    let again = q
        .enqueue_updates(&[(UpdateId(42), Priority::High, job.clone())])
        .await
        .unwrap();
    let twice_in_a_batch = q
        .enqueue_updates(&[
            (UpdateId(43), Priority::High, text_job(43, 10, "x")),
            (UpdateId(43), Priority::High, text_job(43, 10, "x")),
        ])
        .await
        .unwrap();

    assert_eq!((first, again, twice_in_a_batch), (1, 0, 1));
    let lease = take(&q).await;
    assert!(q.ack(&lease).await.unwrap());
    let redelivered_after_done = q
        .enqueue_updates(&[(UpdateId(42), Priority::High, job)])
        .await
        .unwrap();
    assert_eq!(redelivered_after_done, 0, "a finished update is not redone");
    let lease = take(&q).await;
    assert_eq!(lease.id, JobId("u43".into()));
    assert!(q.ack(&lease).await.unwrap());
    assert_nothing_takeable(&q, "each update ran once").await;
    assert_eq!(q.stats().await.unwrap().enqueued, 2);
}

#[actix_web::test]
async fn an_internal_job_is_refused_while_one_with_its_id_is_queued_and_accepted_after_it_is_done()
{
    let redis = RedisServer::start();
    let q = queue(&redis, "q-internal", settings());

    assert!(q
        .enqueue(Priority::Low, &compress_job("compress-10", 10))
        .await
        .unwrap());
    assert!(
        !q.enqueue(Priority::Low, &compress_job("compress-10", 10))
            .await
            .unwrap(),
        "refused while queued"
    );
    let lease = take(&q).await;
    assert!(
        !q.enqueue(Priority::Low, &compress_job("compress-10", 10))
            .await
            .unwrap(),
        "refused while running"
    );
    assert!(q.ack(&lease).await.unwrap());

    assert!(
        q.enqueue(Priority::Low, &compress_job("compress-10", 10))
            .await
            .unwrap(),
        "accepted once the first is done"
    );
    assert_eq!(take(&q).await.id, JobId("compress-10".into()));
}

#[actix_web::test]
async fn an_internal_job_is_accepted_again_after_one_with_its_id_was_dead_lettered() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-internal-dead", settings());
    assert!(q
        .enqueue(Priority::Low, &compress_job("compress-10", 10))
        .await
        .unwrap());
    let lease = take(&q).await;
    assert_eq!(
        q.fail(&lease, "summary was empty", false).await.unwrap(),
        FailOutcome::Dead
    );

    // The chat grew again: a new compression is due. The dead one is not queued any more.
    let accepted = q
        .enqueue(Priority::Low, &compress_job("compress-10", 10))
        .await
        .unwrap();

    assert!(
        accepted,
        "a dead-lettered compression must not block every later compression of its chat"
    );
    assert_eq!(take(&q).await.id, JobId("compress-10".into()));
}

#[actix_web::test]
async fn messages_of_a_chat_within_the_merge_window_are_absorbed_and_a_later_one_waits_its_turn() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-merge",
        QueueSettings {
            merge_window: Duration::from_millis(200),
            ..settings()
        },
    );
    push_text(&q, 1, 10, "part A").await;
    push_text(&q, 2, 10, "part B").await;
    push_text(&q, 3, 10, "part C").await;

    let lead = take(&q).await;
    let absorbed = lead.progress.merged.clone();

    assert_eq!(text_of(&lead.job), "part A");
    assert_eq!(texts(&absorbed), vec!["part B", "part C"]);
    assert!(list(&redis, "q-merge:chat:10:pending").is_empty());
    assert_eq!(redis.cmd_int(&["EXISTS", "q-merge:job:u2"]), 0);
    assert_eq!(
        texts(&stored_progress(&redis, "q-merge", &lead.id).merged),
        vec!["part B", "part C"]
    );
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.merged, stats.chat_waiting), (2, 0));

    tokio::time::sleep(Duration::from_millis(400)).await;
    push_text(&q, 4, 10, "a new question").await;
    // The lead's next attempt (after a release) looks for followers again.
    assert!(q.release(&lead).await.unwrap());
    let lead = take(&q).await;
    assert_eq!(
        texts(&lead.progress.merged),
        vec!["part B", "part C"],
        "a message after the window is its own turn"
    );
    assert_eq!(
        texts(&stored_progress(&redis, "q-merge", &lead.id).merged),
        vec!["part B", "part C"],
        "the merged record is unchanged"
    );
    assert_nothing_takeable(&q, "the later message waits for the merged turn").await;
    assert!(q.ack(&lead).await.unwrap());
    let next = take(&q).await;
    assert_eq!(text_of(&next.job), "a new question");
    assert!(q.ack(&next).await.unwrap());
    assert_nothing_takeable(&q, "absorbed messages are not run on their own").await;
}

#[actix_web::test]
async fn a_command_between_texts_stops_the_merge() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-merge-cmd",
        QueueSettings {
            merge_window: Duration::from_millis(1000),
            ..settings()
        },
    );
    push_text(&q, 1, 10, "part A").await;
    push_text(&q, 2, 10, "part B").await;
    push(&q, Priority::High, command_job(3, 10)).await;
    push_text(&q, 4, 10, "after the command").await;

    let lead = take(&q).await;
    let absorbed = lead.progress.merged.clone();

    assert_eq!(texts(&absorbed), vec!["part B"]);
    assert_eq!(
        list(&redis, "q-merge-cmd:chat:10:pending"),
        vec!["u3".to_string(), "u4".to_string()]
    );
    assert!(q.ack(&lead).await.unwrap());
    let command = take(&q).await;
    assert!(matches!(command.job.kind, JobKind::Command { .. }));
    assert!(
        command.progress.merged.is_empty(),
        "a command absorbs nothing"
    );
    assert!(q.ack(&command).await.unwrap());
    let last = take(&q).await;
    assert_eq!(text_of(&last.job), "after the command");
}

#[actix_web::test]
async fn only_messages_of_one_forum_topic_merge_and_the_forums_topics_keep_one_order() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-merge-topics",
        QueueSettings {
            merge_window: Duration::from_millis(1000),
            ..settings()
        },
    );
    let in_topic = |update, topic: Option<i64>, text: &str| {
        let mut job = text_job(update, -100, text);
        if let JobKind::Chat { chat, .. } = &mut job.kind {
            chat.topic = topic.map(TopicId);
        }
        job
    };
    for job in [
        in_topic(1, Some(7), "plans A"),
        in_topic(2, Some(7), "plans B"),
        in_topic(3, Some(9), "food"),
        in_topic(4, Some(7), "plans C"),
    ] {
        push(&q, Priority::High, job).await;
    }

    let lead = take(&q).await;
    assert_eq!(text_of(&lead.job), "plans A");
    assert_eq!(
        texts(&lead.progress.merged),
        vec!["plans B"],
        "another topic's message is another turn, and what follows it waits behind it"
    );
    assert_nothing_takeable(&q, "one forum, one order").await;
    assert!(q.ack(&lead).await.unwrap());
    let food = take(&q).await;
    assert_eq!(text_of(&food.job), "food");
    assert!(food.progress.merged.is_empty());
    assert!(q.ack(&food).await.unwrap());
    assert_eq!(text_of(&take(&q).await.job), "plans C");
}

#[actix_web::test]
async fn a_released_job_is_first_in_its_queue_again_with_the_same_attempt_number() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-release",
        QueueSettings {
            retry_base: Duration::from_millis(50),
            ..settings()
        },
    );
    push_text(&q, 1, 10, "a").await;
    push_text(&q, 2, 20, "b").await;
    push_text(&q, 3, 30, "c").await;
    let a = take(&q).await;
    // An attempt number above 1, so "not counted" is told apart from "counted from scratch".
    let b1 = take(&q).await;
    assert_eq!(text_of(&b1.job), "b");
    q.fail(&b1, "llm 503", true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = take(&q).await;
    assert_eq!((text_of(&b.job), b.attempt), ("b", 2));

    assert!(q.release(&b).await.unwrap());
    assert!(!q.release(&b).await.unwrap(), "only once");

    let again = take(&q).await;
    assert_eq!(text_of(&again.job), "b", "ahead of c, queued before it");
    assert_eq!(again.attempt, 2, "the released attempt is not counted");
    assert!(q.ack(&again).await.unwrap());
    assert_eq!(text_of(&take(&q).await.job), "c");
    assert!(q.ack(&a).await.unwrap());
}

#[actix_web::test]
async fn the_answer_and_its_delivered_parts_are_kept_with_the_job_until_it_is_acknowledged() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-progress", settings());
    push_text(&q, 1, 10, "question").await;
    let first = take(&q).await;
    assert_eq!(
        stored_progress(&redis, "q-progress", &first.id),
        Default::default(),
        "nothing done yet"
    );

    assert_eq!(first.progress, Progress::default());
    assert!(q.save_answer(&first, "a long answer").await.unwrap());
    assert!(q.record_part(&first, 0, MessageId(501)).await.unwrap());
    assert!(q.record_part(&first, 1, MessageId(502)).await.unwrap());
    // The worker stops; the next attempt (the same attempt number: a release is not counted) continues
    // where it left off.
    assert!(q.release(&first).await.unwrap());
    let second = take(&q).await;
    assert_eq!(second.attempt, first.attempt);
    assert_ne!(
        second.progress,
        Progress::default(),
        "the next attempt knows there is progress to read"
    );
    let progress = second.progress.clone();

    assert_eq!(progress.answer.as_deref(), Some("a long answer"));
    assert_eq!(
        progress.parts,
        BTreeMap::from([(0, MessageId(501)), (1, MessageId(502))])
    );
    assert!(progress.merged.is_empty());
    assert!(q.ack(&second).await.unwrap());
    assert_eq!(
        stored_progress(&redis, "q-progress", &second.id),
        Default::default(),
        "forgotten with the job"
    );
    // A late write by a worker that no longer holds the job does not bring its hash back.
    assert!(!q.record_part(&second, 2, MessageId(503)).await.unwrap());
    assert!(redis.keys("q-progress:job:*").is_empty());
}

#[actix_web::test]
async fn stats_count_ready_running_and_waiting_jobs_and_the_age_of_the_oldest() {
    let redis = RedisServer::start();
    let q = queue(&redis, "q-stats", settings());
    assert_eq!(
        q.stats().await.unwrap(),
        Default::default(),
        "an empty queue"
    );
    push(&q, Priority::Default, text_job(1, 20, "long one")).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    push_text(&q, 2, 10, "first").await;
    push_text(&q, 3, 10, "second").await;
    assert!(q
        .enqueue(Priority::Low, &compress_job("compress-30", 30))
        .await
        .unwrap());
    let running = take(&q).await;
    assert_eq!(text_of(&running.job), "first");

    let stats = q.stats().await.unwrap();

    assert_eq!(
        (stats.high, stats.default, stats.low),
        (0, 1, 1),
        "{stats:?}"
    );
    assert_eq!((stats.in_flight, stats.chat_waiting), (1, 1), "{stats:?}");
    assert_eq!((stats.enqueued, stats.completed), (4, 0), "{stats:?}");
    let oldest = stats.oldest_age_ms.unwrap();
    assert!(
        (150..5000).contains(&oldest),
        "the default job waits since ~150 ms: {oldest}"
    );

    assert!(q.ack(&running).await.unwrap());
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.high, stats.default, stats.low), (1, 1, 1));
    assert_eq!((stats.in_flight, stats.chat_waiting), (0, 0));
    assert_eq!(stats.completed, 1);
    while let Some(Taken::Job(lease)) = q.try_take().await.unwrap() {
        assert!(q.ack(&lease).await.unwrap());
    }
    let stats = q.stats().await.unwrap();
    assert_eq!(
        (stats.high, stats.default, stats.low, stats.in_flight),
        (0, 0, 0, 0)
    );
    assert_eq!(stats.oldest_age_ms, None);
    assert_eq!(stats.completed, 4);
}

#[actix_web::test]
async fn the_queue_fails_while_redis_is_down_and_works_again_after_it_restarts() {
    let mut redis = RedisServer::start();
    let q = queue(&redis, "q-restart", settings());
    push_text(&q, 1, 10, "before").await;

    redis.stop();
    let started = Instant::now();
    let enqueue = q
        .enqueue_updates(&[(UpdateId(2), Priority::High, text_job(2, 10, "during"))])
        .await;
    let take_result = q.try_take().await;
    let stats = q.stats().await;

    assert!(enqueue.is_err(), "enqueue while down: {enqueue:?}");
    assert!(take_result.is_err(), "take while down: {take_result:?}");
    assert!(stats.is_err(), "stats while down: {stats:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "calls fail rather than hang: {:?}",
        started.elapsed()
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match q.stats().await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the queue did not reconnect within 5 s: {e}"),
        }
    }
    // The restarted server is empty (not durable): the queue works from scratch, scripts included.
    push_text(&q, 3, 10, "after").await;
    let mut taker = q.taker().await.unwrap();
    let Some(Taken::Job(lease)) = taker.take_many(1).await.unwrap().into_iter().next() else {
        panic!("nothing taken after the restart");
    };
    assert_eq!(text_of(&lease.job), "after");
    assert!(q.ack(&lease).await.unwrap());
}

/// A worker whose lease ran out (a slow LLM call) and whose job the queue already put back must not be
/// able to schedule a retry as well: the job would then be both ready and delayed, and run twice at once.
#[actix_web::test]
async fn a_worker_whose_lease_expired_cannot_make_its_job_run_twice_at_once_by_failing_it() {
    let redis = RedisServer::start();
    let q = queue(
        &redis,
        "q-stale-fail",
        QueueSettings {
            lease: Duration::from_millis(300),
            retry_base: Duration::from_millis(50),
            max_attempts: 5,
            ..settings()
        },
    );
    push(&q, Priority::Default, text_job(1, 10, "long question")).await;
    let slow = take(&q).await;
    push_text(&q, 2, 20, "short question").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Another worker's take puts the expired job back and takes the higher-priority one.
    let other = take(&q).await;
    assert_eq!(text_of(&other.job), "short question");
    assert!(q.ack(&other).await.unwrap());

    // The slow worker's LLM call now fails.
    let outcome = q.fail(&slow, "llm timed out", true).await.unwrap();
    let mut leases_of_long = Vec::new();
    for _ in 0..2 {
        if let Some(taken) = q.try_take().await.unwrap() {
            let Taken::Job(lease) = taken else {
                panic!("unexpected {taken:?}");
            };
            assert_eq!(lease.id, slow.id);
            leases_of_long.push(lease.attempt);
        }
        // Past the retry delay, well within the new lease.
        tokio::time::sleep(Duration::from_millis(120)).await;
    }

    assert_eq!(
        leases_of_long.len(),
        1,
        "after fail() by the expired holder returned {outcome:?}, the job was leased by attempts \
         {leases_of_long:?} within 250 ms of each other, while a 300 ms lease was still held"
    );
}

#[actix_web::test]
async fn a_poller_that_lost_its_role_can_queue_nothing_and_the_new_one_can() {
    let redis = RedisServer::start();
    let (q1, q2) = (
        queue(&redis, "q-role", settings()),
        queue(&redis, "q-role", settings()),
    );
    let f1 = q1
        .claim_poller()
        .await
        .unwrap()
        .expect("the first claim wins");
    assert_eq!(
        q2.claim_poller().await.unwrap(),
        None,
        "one poller at a time"
    );
    assert_eq!(
        q1.claim_poller().await.unwrap(),
        Some(f1.clone()),
        "renewed"
    );

    // q1 is cut off long enough for its role to expire; q2 claims it.
    redis.cmd(&["DEL", "q-role:poller"]);
    let f2 = q2.claim_poller().await.unwrap().expect("free again");
    assert_ne!(f1, f2, "a new claim, a new token");
    let batch = [(UpdateId(1), Priority::High, text_job(1, 10, "hi"))];

    let stale = q1.enqueue_updates_keeping(&batch, &[], 0, Some(&f1)).await;
    assert!(matches!(stale, Err(QueueError::NotThePoller)), "{stale:?}");
    assert_eq!(
        redis.cmd_int(&["EXISTS", "q-role:job:u1"]),
        0,
        "nothing queued"
    );
    assert_eq!(
        q2.enqueue_updates_keeping(&batch, &[], 0, Some(&f2))
            .await
            .unwrap(),
        1
    );
    assert_eq!(q1.claim_poller().await.unwrap(), None);
    assert!(
        !q1.release_poller(&f1).await.unwrap(),
        "not its role to give up"
    );
    assert!(q2.release_poller(&f2).await.unwrap());
    assert!(
        q1.claim_poller().await.unwrap().is_some(),
        "free at once after a release"
    );
}

#[actix_web::test]
async fn a_webhook_process_counts_while_its_heartbeat_lives_and_leaves_at_a_clean_stop() {
    let redis = RedisServer::start();
    let (q1, q2, poller) = (
        queue(&redis, "q-hook", settings()),
        queue(&redis, "q-hook", settings()),
        queue(&redis, "q-hook", settings()),
    );
    assert_eq!(poller.webhooks_alive().await.unwrap(), 0);
    assert!(!poller.poller_held().await.unwrap());
    q1.heartbeat().await.unwrap();
    q2.heartbeat().await.unwrap();
    assert_eq!(q1.announce_webhook().await.unwrap(), 1);
    assert_eq!(q2.announce_webhook().await.unwrap(), 2);
    assert_eq!(q2.announce_webhook().await.unwrap(), 2, "listed once");

    // q1 crashes: its heartbeat is gone, so it no longer counts (and is dropped from the list).
    redis.cmd(&["DEL", &format!("q-hook:holder:{}", q1.holder_id())]);
    assert_eq!(poller.webhooks_alive().await.unwrap(), 1);
    assert_eq!(redis.cmd_int(&["SCARD", "q-hook:webhooks"]), 1);
    // q2 stops cleanly.
    q2.withdraw_webhook().await.unwrap();
    assert_eq!(poller.webhooks_alive().await.unwrap(), 0);

    poller.claim_poller().await.unwrap().expect("free");
    assert!(q1.poller_held().await.unwrap(), "seen by every process");
}
