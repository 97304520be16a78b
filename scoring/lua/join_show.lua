-- join_show.lua: a member joins a live show; with elimination, a late joiner is out.
--
-- KEYS[1]  P:{C}:meta      reads eliminate, closed_idx
-- KEYS[2]  P:{C}:players   members of a show with elimination
-- KEYS[3]  P:{C}:out       eliminated members
-- ARGV[1]  member
--
-- Without elimination this records nothing. With it, a member first seen after some
-- question has closed is eliminated at once (they missed that question).
-- Returns 1 if the member is in the game, 0 if eliminated.

local meta = redis.call('HMGET', KEYS[1], 'eliminate', 'closed_idx')
if meta[1] ~= '1' then return 1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 and meta[2] then
  redis.call('SADD', KEYS[3], ARGV[1])
end
return 1 - redis.call('SISMEMBER', KEYS[3], ARGV[1])
