-- A page of dead-lettered jobs, newest first, read in one step (the admin API). ARGV: prefix, offset, limit.
-- `p:dead` is oldest first, so the page is counted from its right end. Returns {total, entries}, each entry
-- {id, {payload, prio, chat, attempts, enqueued, dead_reason, dead_at, last_error, merged}}: only these
-- fields, not a saved answer, which may be long. A field that is missing comes back as nil (all of them if
-- the job's record is gone).
local offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local total = redis.call('LLEN', k('dead'))
local out = {}
local stop = total - 1 - offset
if stop >= 0 and limit > 0 then
  local start = math.max(stop - limit + 1, 0)
  local ids = redis.call('LRANGE', k('dead'), start, stop)
  for i = #ids, 1, -1 do
    local id = ids[i]
    table.insert(out, {id, redis.call('HMGET', k('deadjob', id), 'payload', 'prio', 'chat', 'attempts',
      'enqueued', 'dead_reason', 'dead_at', 'last_error', 'merged')})
  end
end
return {total, out}
