-- Shared by every queue script (prepended by the Rust side). ARGV[1] is always the key prefix.
-- Keys are built from the prefix, so the scripts suit a standalone Redis (not a cluster).
local P = ARGV[1]
local function k(...)
  return P .. ':' .. table.concat({...}, ':')
end

-- A token that wakes one worker blocked waiting for work. One is pushed when a ready list goes from empty to
-- not empty, and by `take` when it leaves jobs behind (so the next waiting worker wakes and takes those):
-- a worker only waits after finding every ready list empty, so no job is left without a worker woken for it.
-- Extra tokens only cause a cheap empty look; the list is trimmed so it cannot grow without bound.
local function wake()
  redis.call('LPUSH', k('wake'), '1')
  redis.call('LTRIM', k('wake'), 0, 255)
end

local function make_ready(id, front)
  local prio = redis.call('HGET', k('job', id), 'prio')
  if not prio then
    return false
  end
  local length
  if front then
    length = redis.call('LPUSH', k('ready', prio), id)
  else
    length = redis.call('RPUSH', k('ready', prio), id)
  end
  if length == 1 then
    wake()
  end
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

-- Merges into chat job `id` the chat's next waiting messages that arrived within `window` ms of each other
-- (Telegram splits a long paste into several messages). Their payloads are kept in the job (`merged`), so a
-- retry sees the same merged turn. An album's items (merge key 'album/…') merge within `album_window` ms of
-- each other, whatever `window`. Returns the payloads absorbed now.
local function absorb(id, window, album_window)
  local out = {}
  local key = k('job', id)
  local chat = redis.call('HGET', key, 'chat')
  -- `mergeable` is the job's merge key ('0': merges with nothing): only a conversation's own messages merge.
  local group = redis.call('HGET', key, 'mergeable')
  if not chat or chat == '' or not group or group == '0' then
    return out
  end
  if string.sub(group, 1, 6) == 'album/' then
    window = math.max(window, album_window or 0)
  end
  if window <= 0 then
    return out
  end
  local last = tonumber(redis.call('HGET', key, 'last_enqueued') or redis.call('HGET', key, 'enqueued'))
  local merged = nil
  while true do
    local nxt = redis.call('LINDEX', k('chat', chat, 'pending'), 0)
    if not nxt then
      break
    end
    local nkey = k('job', nxt)
    if redis.call('HGET', nkey, 'mergeable') ~= group then
      break
    end
    local at = tonumber(redis.call('HGET', nkey, 'enqueued'))
    if at - last > window then
      break
    end
    redis.call('LPOP', k('chat', chat, 'pending'))
    redis.call('HINCRBY', k('stats'), 'chat_waiting', -1)
    local payload = redis.call('HGET', nkey, 'payload')
    merged = merged or cjson.decode(redis.call('HGET', key, 'merged') or '[]')
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
end

-- The job is done: forget it and pass its chat's turn on. Returns 0 when the caller no longer holds the job
-- (another worker took it over, or it was dead-lettered). A job whose lease expired but that nobody took yet
-- is still acknowledged: its stale id in the ready list is skipped by `take`.
local function ack(id, token)
  local key = k('job', id)
  local state = redis.call('HMGET', key, 'attempts', 'chat')
  if state[1] ~= token then
    return 0
  end
  local chat = state[2]
  redis.call('ZREM', k('leases'), id)
  redis.call('DEL', key)
  advance(chat, id)
  redis.call('HINCRBY', k('stats'), 'completed', 1)
  return 1
end

-- Records progress of a running job (its saved answer, a delivered part: `fields` is a flat list of names
-- and values), only while the caller holds it: a worker that lost its lease cannot recreate the hash of a job
-- that was finished or dead-lettered. Returns 1, or 0 if the caller no longer holds the job.
local function record(id, token, fields)
  if not owns(id, token) then
    return 0
  end
  local args = {'HSET', k('job', id), 'progress', '1'}
  for i = 1, #fields - 1, 2 do
    table.insert(args, fields[i])
    table.insert(args, fields[i + 1])
  end
  redis.call(unpack(args))
  return 1
end
