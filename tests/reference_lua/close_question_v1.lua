-- close_question_v1.lua: the close of the fourth session (no bulk apply), kept as the
-- reference for tests/test_scoring_bulk.py. Not used by the engine.
-- uses: _lib
--
-- KEYS[1]  P:{C}:q:<qid>      live question state; state becomes "closed", closed_at = now
-- KEYS[2]  P:{C}:dist:<qid>   choice -> count (returned)
-- KEYS[3]  P:{C}:meta         reads eliminate; closed_idx = highest closed idx
-- KEYS[4]  P:{C}:ok:<qid>     members fully correct on this question
-- KEYS[5]  P:{C}:players      members of a show with elimination
-- KEYS[6]  P:{C}:out          eliminated members
-- KEYS[7]  P:{C}:out:<qid>    members eliminated by this question (written here)
-- ARGV     none
--
-- With eliminate = "1" in meta, every player still in the game who did not answer this
-- question fully correctly (wrong, partial or no answer) is eliminated:
-- out:<qid> = players - ok:<qid> - out;  out = out + out:<qid>.
-- Closing twice changes nothing and returns the same figures.
-- Returns {closed_now 1/0 (or -1: no such question), eliminated by this question,
--          players still in, fully correct count, flat distribution [choice, count, ...]}.

local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1, 0, 0, 0, {}} end
local closed_now = 0
if state ~= 'closed' then
  closed_now = 1
  redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_at', num(now))
  local idx = tonumber(redis.call('HGET', KEYS[1], 'idx')) or 0
  local prev = tonumber(redis.call('HGET', KEYS[3], 'closed_idx'))
  if prev == nil or idx > prev then redis.call('HSET', KEYS[3], 'closed_idx', num(idx)) end
  if redis.call('HGET', KEYS[3], 'eliminate') == '1' then
    redis.call('SDIFFSTORE', KEYS[7], KEYS[5], KEYS[4], KEYS[6])
    redis.call('SUNIONSTORE', KEYS[6], KEYS[6], KEYS[7])
  end
end
local alive = redis.call('SCARD', KEYS[5]) - redis.call('SCARD', KEYS[6])
return {closed_now, redis.call('SCARD', KEYS[7]), alive, redis.call('SCARD', KEYS[4]),
  redis.call('HGETALL', KEYS[2])}
