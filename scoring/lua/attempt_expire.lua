-- attempt_expire.lua: close every open attempt whose deadline has passed (the sweeper).
-- uses: _lib
--
-- KEYS[1]  P:{C}:deadlines     zset "member:n" -> attempt deadline
-- KEYS[2]  P:{C}:totals        board: member -> score
-- KEYS[3]  P:{C}:times         board: member -> time used
-- KEYS[4]  P:{C}:lb            global board
-- ARGV[1]  base                P:{C}
-- ARGV[2]  limit               most attempts to close in this call
--
-- Takes the attempts due (deadline < now by Redis's clock, the same test that refuses a
-- late answer) from the queue, lowest deadline first. Each still-open one is closed by
-- expire_attempt (_lib.lua): "expired" with time_used = deadline - started; it counts as
-- completed (units:done) if every question was answered; the member's best attempt and
-- boards are refreshed; an e=close event (t = time used) is appended to P:{C}:audit.
-- Entries of attempts already closed (submitted) are just removed. Idempotent, and safe
-- when several gateways sweep at once: each call is atomic and removes what it handles.
-- Returns {closed, removed, now, entry...}: attempts expired, queue entries removed, then
-- the "member:n" entry of each attempt this call expired (so the engine can tell them).

local base = ARGV[1]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. num(now), 'LIMIT', 0,
  tonumber(ARGV[2]))
local closed = {}
-- The queue entries are removed all at once below.
local k = {totals = KEYS[2], times = KEYS[3], lb = KEYS[4], done = base .. ':units:done'}
for _, entry in ipairs(due) do
  local member, n = split_entry(entry)
  local a = n and hmget(base .. ':att:' .. member .. ':' .. n, unpack(EXPIRE_FIELDS)) or {}
  if a.state == 'open' then
    expire_attempt(base, k, member, n, a, now)
    closed[#closed + 1] = entry
  end
end
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return {#closed, #due, now, unpack(closed)}
