-- Gives a job back unfinished (shutdown): first in its queue again, the attempt not counted.
-- ARGV: prefix, id, attempt. Returns 1, or 0 if the caller no longer held the lease.
local id, token = ARGV[2], ARGV[3]
if not owns(id, token) or redis.call('ZREM', k('leases'), id) == 0 then
  return 0
end
redis.call('HINCRBY', k('job', id), 'attempts', -1)
make_ready(id, true)
return 1
