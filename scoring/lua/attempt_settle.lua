-- attempt_settle.lua: rank open attempts as they stand in a round with board_updates "attempt".
-- uses: _lib
--
-- KEYS[1]  P:{C}:deadlines     zset "member:n" -> attempt deadline (the open attempts)
-- KEYS[2]  P:{C}:totals        board: member -> score
-- KEYS[3]  P:{C}:times         board: member -> time used
-- KEYS[4]  P:{C}:lb            global board
-- ARGV[1]  base                P:{C}
-- ARGV[2]  start               index of the first queue entry to look at
-- ARGV[3]  limit               most entries to look at in this call
--
-- A forced finalize (scoring.finalize: attempts still open) ranks open attempts as they
-- stand; in a round with board_updates "attempt" they are not in P:{C}:best yet. For each
-- entry of the queue whose attempt is open and marked bu = "attempt", refresh_best brings
-- the member's best attempt and boards up to date, as an answer in "answer" mode would
-- have. Nothing else changes (the attempt stays open); attempts of "answer" mode are
-- skipped (their best is up to date). Idempotent.
-- Returns {entries looked at, attempts settled}.

local base = ARGV[1]
local start = tonumber(ARGV[2])
local entries = redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[3]) - 1)
local settled = 0
for _, entry in ipairs(entries) do
  local member = split_entry(entry)
  local a = hmget(base .. ':att:' .. entry, 'state', 'bu', 'pv', 'u')
  if a.state == 'open' and a.bu == 'attempt' then
    local pv, u = a.pv or '', a.u or ''
    refresh_best(base, board_keys(base, KEYS[2], KEYS[3], KEYS[4], pv, u), member, pv, u)
    settled = settled + 1
  end
end
return {#entries, settled}
