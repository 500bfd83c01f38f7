-- Claims (or renews) the poller role. ARGV: prefix, holder, ttl_ms. The role is `p:poller` = '{holder}:{n}',
-- expiring after ttl_ms; `n` (from `p:poller:fence`) grows with every new claim, so a holder that lost the
-- role and claims again gets another token. Returns the token held now, or false when another holder has it.
local current = redis.call('GET', k('poller'))
if current then
  if string.match(current, '^(.*):%d+$') == ARGV[2] then
    redis.call('PEXPIRE', k('poller'), ARGV[3])
    return current
  end
  return false
end
local n = redis.call('INCR', k('poller', 'fence'))
local token = ARGV[2] .. ':' .. n
redis.call('SET', k('poller'), token, 'PX', ARGV[3])
return token
