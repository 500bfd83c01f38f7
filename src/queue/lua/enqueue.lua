-- Queues a batch atomically. ARGV: prefix, now_ms, seen_ttl_s, fence (the poller role's token the batch is
-- queued under: refused with -1 unless it holds `p:poller` now; '' = no check), album_settle_ms (see below),
-- then the group memory: how many messages a
-- group keeps, its expiry in seconds, the number m of kept messages, then per kept message: update_id,
-- conversation (`{chat}` or `{chat}/{topic}`), entry ('{message_id} {Name: text}'); then per job:
--   update_id ('' if none), priority, chat ('' = no per-chat order), job id, merge key ('0' = merges with
--   nothing; see `Job::merge_key`), payload.
-- An update already queued once (Telegram redelivered it) and a job id already present are skipped; so is a
-- kept message already kept once. Returns the number of jobs newly queued, or -1 (nothing queued) for a fence
-- that does not hold the role.
-- An album's first item that would run at once, with no later item of its album in this batch (updates that
-- arrive one at a time: webhook mode), waits `album_settle_ms` in `delayed`, so the rest of the album queues
-- behind it (the chat is busy) and `take` merges them into one turn.
local now, ttl, fence = ARGV[2], ARGV[3], ARGV[4]
local album_settle = tonumber(ARGV[5])
if fence ~= '' and redis.call('GET', k('poller')) ~= fence then
  return -1
end
local keep, memory_ttl, kept = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local i = 9
for _ = 1, kept do
  local update, conversation, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if redis.call('SET', k('seen', update), 'groupctx', 'NX', 'EX', ttl) then
    local memory = k('groupctx', conversation)
    redis.call('RPUSH', memory, entry)
    redis.call('LTRIM', memory, -keep, -1)
    redis.call('EXPIRE', memory, memory_ttl)
  end
end
-- Whether a job after position `from` of the batch has the merge key `key`.
local function later_in_batch(from, key)
  local j = from
  while j + 5 <= #ARGV do
    if ARGV[j + 4] == key then
      return true
    end
    j = j + 6
  end
  return false
end

local added = 0
while i + 5 <= #ARGV do
  local update, prio, chat, id, mergeable, payload =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  local fresh = true
  if update ~= '' then
    fresh = redis.call('SET', k('seen', update), id, 'NX', 'EX', ttl)
  end
  if fresh and redis.call('EXISTS', k('job', id)) == 0 then
    redis.call('HSET', k('job', id), 'payload', payload, 'prio', prio, 'chat', chat, 'attempts', 0,
      'enqueued', now, 'mergeable', mergeable)
    local active = k('chat', chat, 'active')
    if chat ~= '' and redis.call('EXISTS', active) == 1 then
      redis.call('RPUSH', k('chat', chat, 'pending'), id)
      redis.call('HINCRBY', k('stats'), 'chat_waiting', 1)
    else
      if chat ~= '' then
        redis.call('SET', active, id)
      end
      if album_settle > 0 and string.sub(mergeable, 1, 6) == 'album/' and not later_in_batch(i, mergeable) then
        redis.call('ZADD', k('delayed'), tonumber(now) + album_settle, id)
      else
        make_ready(id, false)
      end
    end
    redis.call('HINCRBY', k('stats'), 'enqueued', 1)
    added = added + 1
  end
end
return added
