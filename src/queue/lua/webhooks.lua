-- The processes in webhook mode: `p:webhooks` lists their holder ids, and one counts while its heartbeat
-- (`p:holder:{id}`, see holders.rs) lives, so a crashed one stops counting within the heartbeat's TTL.
-- ARGV: prefix, a holder to add ('' = none). Drops the dead from the set; returns how many live.
if ARGV[2] ~= '' then
  redis.call('SADD', k('webhooks'), ARGV[2])
end
local alive = 0
for _, holder in ipairs(redis.call('SMEMBERS', k('webhooks'))) do
  if redis.call('EXISTS', k('holder', holder)) == 1 then
    alive = alive + 1
  else
    redis.call('SREM', k('webhooks'), holder)
  end
end
return alive
