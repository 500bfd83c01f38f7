-- The job is done: forget it and pass its chat's turn on. ARGV: prefix, id, attempt.
-- Returns 0 when another worker took the job over (or it was dead-lettered). A job whose lease expired but
-- that nobody took yet is still acknowledged: its stale id in the ready list is skipped by `take`.
local id, token = ARGV[2], ARGV[3]
if not owns(id, token) then
  return 0
end
local key = k('job', id)
local chat = redis.call('HGET', key, 'chat')
redis.call('ZREM', k('leases'), id)
redis.call('DEL', key)
advance(chat, id)
redis.call('HINCRBY', k('stats'), 'completed', 1)
return 1
