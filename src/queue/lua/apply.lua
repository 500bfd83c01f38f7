-- Many jobs' records and acknowledgements in one call, applied in order, each by `record` or `ack` of
-- common.lua (each checks that its caller holds the job). ARGV: prefix, then per operation:
--   'ack', id, attempt   or   'record', id, attempt, n, then n field, value pairs.
-- Returns one result per operation (1, or 0 if its caller no longer holds the job).
local out = {}
local i = 2
while i <= #ARGV do
  local op, id, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'ack' then
    table.insert(out, ack(id, token))
    i = i + 3
  else
    local n = tonumber(ARGV[i + 3])
    local fields = {}
    for j = 1, 2 * n do
      table.insert(fields, ARGV[i + 3 + j])
    end
    table.insert(out, record(id, token, fields))
    i = i + 4 + 2 * n
  end
end
return out
