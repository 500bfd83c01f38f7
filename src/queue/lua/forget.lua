-- Forgets the kept messages of a group (or its topic) that a turn was given. ARGV: prefix, conversation
-- (`{chat}` or `{chat}/{topic}`), up_to (a message id).
-- Kept messages are in the order they came, so it removes from the front while the first one's message id is
-- at most up_to; those that came later stay for the next turn. Returns how many it removed.
local memory = k('groupctx', ARGV[2])
local up_to = tonumber(ARGV[3])
local removed = 0
while true do
  local first = redis.call('LINDEX', memory, 0)
  if not first then
    break
  end
  local id = tonumber(string.match(first, '^(-?%d+) '))
  if id ~= nil and id > up_to then
    break
  end
  redis.call('LPOP', memory)
  removed = removed + 1
end
return removed
