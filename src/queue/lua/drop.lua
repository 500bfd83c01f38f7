-- Forgets a dead-lettered job for good (the admin API). Its chat's turn was passed on when it died, so this
-- is safe at any time. ARGV: prefix, id. Returns 1, or 0 if there was no such dead job.
local id = ARGV[2]
local listed = redis.call('LREM', k('dead'), 0, id)
local held = redis.call('DEL', k('deadjob', id))
if listed + held > 0 then
  return 1
end
return 0
