-- Takes the next job, strictly high > default > low, FIFO within a priority, and leases it.
-- ARGV: prefix, now_ms, lease_ms, max_attempts.
-- First returns expired leases and due retries to the front of their queue.
-- Returns nil, {'job', id, payload, attempt, prio, progress} (progress is '1' when an earlier attempt saved
-- an answer, delivered parts or merged messages) or, for a job that used up its attempts without ever
-- finishing (the process died each time), {'dead', id, payload, attempt, prio, ''} after dead-lettering it.
local now, lease, max = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

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

for _, prio in ipairs({'high', 'default', 'low'}) do
  local id = redis.call('LPOP', k('ready', prio))
  while id do
    local key = k('job', id)
    -- A stale id (its job was acknowledged while it waited here) is dropped.
    if redis.call('EXISTS', key) == 1 then
      local attempt = redis.call('HINCRBY', key, 'attempts', 1)
      local payload = redis.call('HGET', key, 'payload')
      if attempt > max then
        dead_letter(id, 'gave up: taken ' .. (attempt - 1) .. ' times without finishing', now)
        return {'dead', id, payload, attempt, prio, ''}
      end
      redis.call('ZADD', k('leases'), now + lease, id)
      return {'job', id, payload, attempt, prio, redis.call('HGET', key, 'progress') or ''}
    end
    id = redis.call('LPOP', k('ready', prio))
  end
end
return nil
