-- open_question.lua: release a live question now (Redis clock).
-- uses: _lib
--
-- KEYS[1]  P:{C}:q:<qid>   live question state hash (rule 3 of docs/scoring.md)
-- KEYS[2]  P:{C}:meta      contest settings; gets current = <qid>, current_idx = <idx>
-- ARGV[1]  qid             question id
-- ARGV[2]  idx             index of the question in the show (0, 1, ...; streaks need i-1, i)
-- ARGV[3]  T               time to answer, ms
-- ARGV[4]  P               the question's points
-- ARGV[5]  speed           1: speed points, 0: fixed points
-- ARGV[6]  delay           ms from now until the question opens (lets the broadcast land)
-- ARGV[7]  grace           ms accepted past opens + T (network latency allowance)
--
-- Opens = now + delay, deadline = opens + T + grace. Opening a question that is already
-- open or closed changes nothing (a conductor taking over may repeat the call).
-- Returns {opened (1 new / 0 already), opens, deadline, now, state}.

local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state')
if state then
  local v = redis.call('HMGET', KEYS[1], 'opens', 'deadline')
  return {0, tonumber(v[1]), tonumber(v[2]), now, state}
end
local T = tonumber(ARGV[3])
local opens = now + tonumber(ARGV[6])
local deadline = opens + T + tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'qid', ARGV[1], 'idx', ARGV[2], 'opens', num(opens),
  'deadline', num(deadline), 'T', num(T), 'P', ARGV[4], 'speed', ARGV[5], 'state', 'open')
redis.call('HSET', KEYS[2], 'current', ARGV[1], 'current_idx', ARGV[2])
return {1, opens, deadline, now, 'open'}
