-- Re-queues a dead-lettered job (the operator's decision, through the admin API). ARGV: prefix, id, now_ms.
-- Its record moves back from `deadjob:{id}` to `job:{id}` with `attempts` 0 (a full set of attempts) and the
-- dead-letter fields removed. What earlier attempts recorded (a saved answer, delivered parts, merged
-- messages) stays, so the job goes on from there. `enqueued` becomes now: it waits in the queue from now.
-- Then it takes its chat's turn if the chat has no job ready or running, else it waits behind that job.
-- Returns 'ready', 'waiting', 'missing' (no such dead job) or 'conflict' (a live job has this id, e.g. a
-- new compression of the same chat; nothing was changed).
local id, now = ARGV[2], ARGV[3]
local dead, key = k('deadjob', id), k('job', id)
if redis.call('EXISTS', dead) == 0 then
  return 'missing'
end
if redis.call('EXISTS', key) == 1 then
  return 'conflict'
end
redis.call('RENAME', dead, key)
redis.call('HDEL', key, 'dead_reason', 'dead_at')
redis.call('HSET', key, 'attempts', 0, 'enqueued', now)
-- A record without a priority could never be made ready, and its chat would wait for it forever.
redis.call('HSETNX', key, 'prio', 'default')
redis.call('LREM', k('dead'), 0, id)
local chat = redis.call('HGET', key, 'chat')
if chat and chat ~= '' then
  local active = k('chat', chat, 'active')
  if redis.call('EXISTS', active) == 1 then
    redis.call('RPUSH', k('chat', chat, 'pending'), id)
    redis.call('HINCRBY', k('stats'), 'chat_waiting', 1)
    return 'waiting'
  end
  redis.call('SET', active, id)
end
make_ready(id, false)
return 'ready'
