-- board_ranks.lua: many members' scores and shared ranks on one board, in one call.
--
-- KEYS[1]  a board: P:{C}:lb, P:{C}:lb:p:<province> or P:{C}:lb:u:<unit>
-- ARGV[i]  member ids (any number; callers send a few thousand per call)
--
-- Returns {size, s1, r1, s2, r2, ...}: the board's size, then for each member in order
-- its composite score (as Redis formats it) and shared rank (ZCOUNT of strictly higher
-- scores + 1: ranks 1, 2, 2, 4), or false and 0 if the member is not on the board.
-- O(n log N) for n members on a board of N; read-only.

local board = KEYS[1]
local out = {redis.call('ZCARD', board)}
for i = 1, #ARGV do
  local score = redis.call('ZSCORE', board, ARGV[i])
  if score then
    out[#out + 1] = score
    out[#out + 1] = redis.call('ZCOUNT', board, '(' .. score, '+inf') + 1
  else
    out[#out + 1] = false
    out[#out + 1] = 0
  end
end
return out
