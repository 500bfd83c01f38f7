-- The job is done: forget it and pass its chat's turn on. ARGV: prefix, id, attempt.
-- Returns 0 when the caller no longer holds the lease (another worker took the job over).
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
