-- board_above.lua: how many members of one board are strictly above each of many scores.
--
-- KEYS[1]  a board of one shard of a sharded contest (P:{C~i~n}:lb, :lb:p:<province> or
--          :lb:u:<unit>)
-- ARGV[i]  composite scores (as Python's repr of the float: Redis parses them back exactly)
--
-- Returns {ZCOUNT(board, "(" .. ARGV[i], "+inf") for each i}: summed over every shard, plus
-- one, they are the shared ranks of those scores on the contest's whole board. Read-only.

local out = {}
for i = 1, #ARGV do
  out[i] = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[i], '+inf')
end
return out
