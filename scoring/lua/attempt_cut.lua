-- attempt_cut.lua: a round closed before its closes_at: its attempts end at the close.
-- uses: _lib
--
-- KEYS[1]  P:{C}:deadlines     zset "member:n" -> attempt deadline (the sweeper's queue)
-- ARGV[1]  base                P:{C} (the attempt hashes are built from it: same hash tag)
-- ARGV[2]  close               ms the round closed
--
-- Every attempt in the queue whose deadline is past the close gets the close as its
-- deadline (never before the attempt's start), in its hash if it is still open and in the
-- queue, so the sweeper (attempt_expire.lua) closes it once Redis's clock is past it.
-- Idempotent. Nothing else is written: the expiry (expire_attempt) brings the best attempt
-- and boards up to date, in a round with board_updates "attempt" too.
-- Returns {how many open attempts were cut, now}.

local close = tonumber(ARGV[2])
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf')
local cut = 0
for _, entry in ipairs(entries) do
  local key = ARGV[1] .. ':att:' .. entry
  local a = redis.call('HMGET', key, 'state', 'started')
  local deadline = math.max(close, tonumber(a[2]) or close)
  if a[1] == 'open' then
    redis.call('HSET', key, 'deadline', num(deadline))
    cut = cut + 1
  end
  redis.call('ZADD', KEYS[1], num(deadline), entry)
end
return {cut, now_ms()}
