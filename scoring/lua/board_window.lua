-- board_window.lua: one slice of a leaderboard with shared ranks and profiles, in one call.
--
-- KEYS[1]  a board: P:{C}:lb, P:{C}:lb:p:<province> or P:{C}:lb:u:<unit>
-- KEYS[2]  P:{C}:profiles   member -> profile JSON
-- ARGV[1]  mode             "top": the first n; "around": member with k above and below;
--                           "rank": the member alone
-- ARGV[2]  n (top) or member (around, rank)
-- ARGV[3]  k (around)
--
-- Returns {first_rank, first_position, m1, s1, p1, m2, s2, p2, ...}: the shared rank
-- (ZCOUNT of strictly higher scores + 1) and 0-based position of the first row, then each
-- row's member, composite score and profile (false if none); {} if the member is not on
-- the board or the board is empty. Ranks of the following rows are derived by the caller.

local board, mode = KEYS[1], ARGV[1]
local start, stop
if mode == 'top' then
  start, stop = 0, tonumber(ARGV[2]) - 1
  if stop < 0 then return {} end
else
  local pos = redis.call('ZREVRANK', board, ARGV[2])
  if not pos then return {} end
  if mode == 'around' then
    local k = tonumber(ARGV[3])
    start, stop = math.max(0, pos - k), pos + k
  else
    start, stop = pos, pos
  end
end
local rows = redis.call('ZREVRANGE', board, start, stop, 'WITHSCORES')
if #rows == 0 then return {} end
local members = {}
for i = 1, #rows, 2 do members[#members + 1] = rows[i] end
local profiles = redis.call('HMGET', KEYS[2], unpack(members))
local out = {redis.call('ZCOUNT', board, '(' .. rows[2], '+inf') + 1, start}
for i = 1, #members do
  out[#out + 1] = members[i]
  out[#out + 1] = rows[2 * i]
  out[#out + 1] = profiles[i]
end
return out
