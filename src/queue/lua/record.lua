-- Records progress of a running job (its saved answer, a delivered part), only while the caller holds it:
-- a worker that lost its lease cannot recreate the hash of a job that was finished or dead-lettered.
-- ARGV: prefix, id, attempt, field, value. Returns 1, or 0 if the caller no longer holds the job.
local id, token = ARGV[2], ARGV[3]
if not owns(id, token) then
  return 0
end
redis.call('HSET', k('job', id), ARGV[4], ARGV[5], 'progress', '1')
return 1
