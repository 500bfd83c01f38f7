-- Merges into a chat job the chat's next waiting messages that arrived within the window of each other
-- (Telegram splits a long paste into several messages). Their payloads are kept in the job, so a retry
-- sees the same merged turn. ARGV: prefix, id, attempt, window_ms. Returns the absorbed payloads.
local id, token, window = ARGV[2], ARGV[3], tonumber(ARGV[4])
-- A window of 0 turns merging off.
if window <= 0 or not owns(id, token) then
  return {}
end
local key = k('job', id)
local chat = redis.call('HGET', key, 'chat')
if not chat or chat == '' or redis.call('HGET', key, 'mergeable') ~= '1' then
  return {}
end
local last = tonumber(redis.call('HGET', key, 'last_enqueued') or redis.call('HGET', key, 'enqueued'))
local merged = cjson.decode(redis.call('HGET', key, 'merged') or '[]')
local out = {}
while true do
  local nxt = redis.call('LINDEX', k('chat', chat, 'pending'), 0)
  if not nxt then
    break
  end
  local nkey = k('job', nxt)
  if redis.call('HGET', nkey, 'mergeable') ~= '1' then
    break
  end
  local at = tonumber(redis.call('HGET', nkey, 'enqueued'))
  if at - last > window then
    break
  end
  redis.call('LPOP', k('chat', chat, 'pending'))
  redis.call('HINCRBY', k('stats'), 'chat_waiting', -1)
  local payload = redis.call('HGET', nkey, 'payload')
  table.insert(merged, payload)
  table.insert(out, payload)
  last = at
  redis.call('DEL', nkey)
  redis.call('HINCRBY', k('stats'), 'merged', 1)
end
if #out > 0 then
  redis.call('HSET', key, 'merged', cjson.encode(merged), 'last_enqueued', last, 'progress', '1')
end
return out
