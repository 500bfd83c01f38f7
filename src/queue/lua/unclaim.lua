-- Gives the poller role up (a clean stop), if `token` still holds it. ARGV: prefix, token. Returns 1 or 0.
if redis.call('GET', k('poller')) == ARGV[2] then
  redis.call('DEL', k('poller'))
  return 1
end
return 0
