-- Takes the next jobs (up to `count`), strictly high > default > low, FIFO within a priority, and leases them.
-- ARGV: prefix, now_ms, lease_ms, max_attempts, merge_window_ms, count, holder (this process), may_reclaim,
-- album_window_ms
-- ('1': this process's heartbeat has lasted long enough to judge others'; see `queue/holders.rs`).
-- First returns expired leases and due retries to the front of their queue. A chat job with no saved answer
-- absorbs the chat's messages waiting within the merge window (see `absorb`), in the same step.
-- Returns a list (empty: nothing ready) of entries {'job', id, payload, attempt, prio, fields} (fields: the job
-- hash, flattened, when an earlier attempt saved an answer or delivered parts or messages were merged; else
-- empty) or, for a job that used up its attempts without ever finishing (the process died each time),
-- {'dead', id, payload, attempt, prio, {}} after dead-lettering it.
local now, lease, max, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count = tonumber(ARGV[6] or '1')
local holder, may_reclaim = ARGV[7] or '', ARGV[8] == '1'
local album_window = tonumber(ARGV[9] or '0')

-- The leases of a holder whose heartbeat is gone (the process crashed) go back to the front of their queues at
-- once, as if expired.
if may_reclaim then
  local dead = {}
  local any = false
  for _, h in ipairs(redis.call('SMEMBERS', k('holders'))) do
    if h ~= holder and redis.call('EXISTS', k('holder', h)) == 0 then
      dead[h] = true
      any = true
      redis.call('SREM', k('holders'), h)
    end
  end
  if any then
    for _, id in ipairs(redis.call('ZRANGE', k('leases'), 0, -1)) do
      local h = redis.call('HGET', k('job', id), 'holder')
      if h and dead[h] then
        redis.call('ZREM', k('leases'), id)
        if make_ready(id, true) then
          redis.call('HINCRBY', k('stats'), 'reclaimed', 1)
        end
      end
    end
  end
end

for _, id in ipairs(redis.call('ZRANGEBYSCORE', k('leases'), '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', k('leases'), id)
  if make_ready(id, true) then
    redis.call('HINCRBY', k('stats'), 'lease_expired', 1)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', k('delayed'), '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', k('delayed'), id)
  make_ready(id, true)
end

-- The next ready job, strictly by priority, FIFO within one; nil when none is ready.
local function take_one()
  for _, prio in ipairs({'high', 'default', 'low'}) do
    local id = redis.call('LPOP', k('ready', prio))
    while id do
      local key = k('job', id)
      local state = redis.call('HMGET', key, 'payload', 'progress')
      local payload, progress = state[1], state[2]
      -- A stale id (its job was acknowledged while it waited here) is dropped.
      if payload then
        local attempt = redis.call('HINCRBY', key, 'attempts', 1)
        if attempt > max then
          dead_letter(id, 'gave up: taken ' .. (attempt - 1) .. ' times without finishing', now)
          return {'dead', id, payload, attempt, prio, {}}
        end
        redis.call('ZADD', k('leases'), now + lease, id)
        redis.call('HSET', key, 'holder', holder)
        -- Followers are merged in unless an answer is saved (only a job with progress can have one).
        local answered = progress == '1' and redis.call('HEXISTS', key, 'answer') == 1
        if not answered and #absorb(id, window, album_window) > 0 then
          progress = '1'
        end
        local fields = {}
        if progress == '1' then
          fields = redis.call('HGETALL', key)
        end
        return {'job', id, payload, attempt, prio, fields}
      end
      id = redis.call('LPOP', k('ready', prio))
    end
  end
  return nil
end

local taken = {}
while #taken < count do
  local entry = take_one()
  if not entry then
    break
  end
  table.insert(taken, entry)
end
-- Jobs left behind: wake the next waiting worker for them.
if #taken == count then
  for _, prio in ipairs({'high', 'default', 'low'}) do
    if redis.call('LLEN', k('ready', prio)) > 0 then
      wake()
      break
    end
  end
end
return taken
