-- board_near.lua: the rows of one shard's board nearest a place in the board's order.
--
-- KEYS[1]  a board of one shard of a sharded contest (P:{C~i~n}:lb, :lb:p:<province> or
--          :lb:u:<unit>)
-- ARGV[1]  composite score c of the place (Python's repr of the float)
-- ARGV[2]  member m of the place (on this shard's board or not)
-- ARGV[3]  k: rows wanted on each side
--
-- The order is ZREVRANGE's: score desc, then member desc in byte order. The place (c, m)
-- sits after every row with a higher score and every row of score c whose member sorts
-- after m (compared byte by byte: Lua's own string comparison follows the server's locale).
-- Returns {before, n, m1, s1, ..., mj, sj}: before = rows of this board ahead of the
-- place; n = how many of the rows that follow are ahead of it (up to k, nearest last); the
-- rest are up to k rows behind it (nearest first; m itself left out). Read-only;
-- O(log N + k + rows of score c).

local board, c, m, k = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])

local function after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

local before = redis.call('ZCOUNT', board, '(' .. c, '+inf')
local present = 0
for _, other in ipairs(redis.call('ZRANGEBYSCORE', board, c, c)) do
  if other == m then
    present = 1
  elseif after(other, m) then
    before = before + 1
  end
end
local out = {before, 0}
if k <= 0 then return out end
if before > 0 then
  local above = redis.call('ZREVRANGE', board, math.max(0, before - k), before - 1, 'WITHSCORES')
  out[2] = #above / 2
  for _, v in ipairs(above) do out[#out + 1] = v end
end
local from = before + present
for _, v in ipairs(redis.call('ZREVRANGE', board, from, from + k - 1, 'WITHSCORES')) do
  out[#out + 1] = v
end
return out
