-- Numbers for operators. ARGV: prefix, now_ms. Returns a flat list of name, value pairs.
local now = tonumber(ARGV[2])
local out = {}
local oldest = -1
for _, prio in ipairs({'high', 'default', 'low'}) do
  table.insert(out, prio)
  table.insert(out, redis.call('LLEN', k('ready', prio)))
  local head = redis.call('LINDEX', k('ready', prio), 0)
  if head then
    local at = tonumber(redis.call('HGET', k('job', head), 'enqueued'))
    if at and (oldest < 0 or now - at > oldest) then
      oldest = now - at
    end
  end
end
table.insert(out, 'in_flight')
table.insert(out, redis.call('ZCARD', k('leases')))
table.insert(out, 'delayed')
table.insert(out, redis.call('ZCARD', k('delayed')))
table.insert(out, 'dead')
table.insert(out, redis.call('LLEN', k('dead')))
table.insert(out, 'oldest_age_ms')
table.insert(out, oldest)
for _, name in ipairs({'chat_waiting', 'retried', 'dead_lettered', 'completed', 'enqueued', 'lease_expired', 'merged', 'reclaimed'}) do
  table.insert(out, name)
  table.insert(out, tonumber(redis.call('HGET', k('stats'), name) or '0'))
end
return out
