-- Keeps a running job's lease alive. ARGV: prefix, id, attempt, now_ms, lease_ms. Returns 1, or 0 if lost.
local id, token = ARGV[2], ARGV[3]
if not owns(id, token) or not redis.call('ZSCORE', k('leases'), id) then
  return 0
end
redis.call('ZADD', k('leases'), 'XX', tonumber(ARGV[4]) + tonumber(ARGV[5]), id)
return 1
