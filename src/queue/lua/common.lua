-- Shared by every queue script (prepended by the Rust side). ARGV[1] is always the key prefix.
-- Keys are built from the prefix, so the scripts suit a standalone Redis (not a cluster).
local P = ARGV[1]
local function k(...)
  return P .. ':' .. table.concat({...}, ':')
end

-- One token per job made ready; a waiting worker blocks on this list. Extra tokens only cause a cheap
-- empty look; the list is trimmed so it cannot grow without bound.
local function wake()
  redis.call('LPUSH', k('wake'), '1')
  redis.call('LTRIM', k('wake'), 0, 255)
end

local function make_ready(id, front)
  local prio = redis.call('HGET', k('job', id), 'prio')
  if not prio then
    return false
  end
  if front then
    redis.call('LPUSH', k('ready', prio), id)
  else
    redis.call('RPUSH', k('ready', prio), id)
  end
  wake()
  return true
end

-- The chat's turn passes from job `id` to the chat's next waiting job, if any.
local function advance(chat, id)
  if not chat or chat == '' then
    return
  end
  local active = k('chat', chat, 'active')
  if redis.call('GET', active) ~= id then
    return
  end
  while true do
    local nxt = redis.call('LPOP', k('chat', chat, 'pending'))
    if not nxt then
      redis.call('DEL', active)
      return
    end
    redis.call('HINCRBY', k('stats'), 'chat_waiting', -1)
    if redis.call('EXISTS', k('job', nxt)) == 1 then
      redis.call('SET', active, nxt)
      make_ready(nxt, false)
      return
    end
  end
end

-- A job that will not be tried again: its hash moves to `deadjob:{id}` with the reason, for the operator
-- (so a new job with the same id can be queued), and its chat moves on.
local function dead_letter(id, reason, now)
  local key = k('job', id)
  local chat = redis.call('HGET', key, 'chat')
  redis.call('HSET', key, 'dead_reason', reason, 'dead_at', now)
  redis.call('RENAME', key, k('deadjob', id))
  redis.call('ZREM', k('leases'), id)
  redis.call('ZREM', k('delayed'), id)
  if not redis.call('LPOS', k('dead'), id) then
    redis.call('RPUSH', k('dead'), id)
  end
  redis.call('HINCRBY', k('stats'), 'dead_lettered', 1)
  advance(chat, id)
end

-- True when `token` is the (live) job's current attempt: nobody has taken the job over since.
local function owns(id, token)
  return redis.call('HGET', k('job', id), 'attempts') == token
end
