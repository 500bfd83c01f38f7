-- Merges into a chat job the chat's next waiting messages that arrived within the window of each other
-- (see `absorb` in common.lua; `take` already does this when it leases a job). ARGV: prefix, id, attempt,
-- window_ms. Returns the absorbed payloads.
local id, token, window = ARGV[2], ARGV[3], tonumber(ARGV[4])
if not owns(id, token) then
  return {}
end
return absorb(id, window)
