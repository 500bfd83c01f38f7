-- The attempt failed. ARGV: prefix, id, attempt, now_ms, reason, retry ('1'/'0'), delay_ms, max_attempts.
-- Retried after delay_ms while attempts remain and the failure is worth retrying, else dead-lettered.
-- Returns 'retry', 'dead' or 'stale': the caller no longer holds the lease (it expired and the job went back to
-- its queue, or another worker took it over) and nothing was changed, so the job cannot run twice at once.
local id, token, now, reason, retry, delay, max =
  ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
if not owns(id, token) or redis.call('ZREM', k('leases'), id) == 0 then
  return 'stale'
end
redis.call('HSET', k('job', id), 'last_error', reason)
if retry == '1' and tonumber(token) < max then
  redis.call('ZADD', k('delayed'), now + delay, id)
  redis.call('HINCRBY', k('stats'), 'retried', 1)
  return 'retry'
end
dead_letter(id, reason, now)
return 'dead'
