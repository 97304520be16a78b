-- attempt_start.lua: start a window attempt, or give back the open one (resume).
-- uses: _lib
--
-- KEYS[1]  P:{C}:attn          member -> number of attempts started
-- KEYS[2]  P:{C}:deadlines     zset "member:n" -> attempt deadline (the sweeper's queue)
-- KEYS[3]  P:{C}:profiles      member -> JSON profile (name, province, unit)
-- KEYS[4]  P:{C}:totals        board: member -> score
-- KEYS[5]  P:{C}:times         board: member -> time used
-- KEYS[6]  P:{C}:lb            global board
-- KEYS[7]  P:{C}:units:part    unit -> participants
-- KEYS[8]  P:{C}:units:done    unit -> members with a completed attempt
-- ARGV[1]  base                P:{C} (every other key is built from it: same hash tag)
-- ARGV[2]  mode                "start": start or resume; "resume": only look;
--                              "start_open": "start" while the contest's state
--                              (P:{C}:meta, field state) is "open", else "not_open"
-- ARGV[3]  member
-- ARGV[4]  province            "" if none
-- ARGV[5]  unit                "" if none
-- ARGV[6]  profile             JSON profile to store ("" leaves it as it is)
-- ARGV[7]  duration            ms the attempt lasts
-- ARGV[8]  allowed             attempts a member may start (0 = no limit)
-- ARGV[9]  opens_at            ms the round opens (0 = already open)
-- ARGV[10] closes_at           ms the round closes (0 = never); deadline <= closes_at
-- ARGV[11] qs                  JSON list of the drawn question ids, in order
-- ARGV[12] opt                 JSON object qid -> option ids in the member's order
-- ARGV[13] drawn_for           the attempt number the draw was made for ("start"): the
--                              caller's guess of n+1 (draws are seeded by the number);
--                              0 = a draw good for any number
-- ARGV[14] min_gap             ms that must pass between the end of the member's previous
--                              attempt and a new start (0 = none)
-- ARGV[15..] qid, P pairs      points of each drawn question
--
-- In mode "start_open" nothing else happens unless the contest's state is "open" (the
-- gateway starts on its cached contest and lets this script judge the state, atomically
-- with the start, instead of reading the contest again before each start).
-- An open attempt whose deadline has passed is expired first (expire_attempt, as
-- attempt_expire.lua does). Starting and closing append attempt events (e=start /
-- e=close) to P:{C}:audit. Then, in mode "start": an open attempt is returned as it is
-- ("resumed");
-- otherwise a new one is refused if the round has not opened ("not_open") or has closed
-- ("round_closed"), or if the member has used every attempt ("attempts_used"), else
-- or if the previous attempt ended (submitted, or its deadline) less than min_gap ms ago
-- ("too_soon", wait = ms left), or if the draw was made for another number than n+1
-- ("redraw": nothing changes; draw for n+1 and call again), else
-- attempt n+1 starts with deadline = min(now + duration, closes_at) ("started"). The new
-- attempt is counted in units:part if it is the member's first; with board_updates
-- "answer" (P:{C}:meta; the default, also when the field is absent) the member is put on
-- the boards (0 the first time) and the best attempt refreshed, as before; with
-- "attempt" the attempt hash gets bu = "attempt" (read by attempt_answer/attempt_submit)
-- and nothing of the best attempt, totals, times or boards is written: the attempt's end
-- (submit, expiry) writes them.
-- In mode "resume" nothing starts: the latest attempt is returned ("latest") or
-- "no_attempt".
-- Returns {status, n, now, best, wait, field, value, field, value, ...}: best is the
-- member's P:{C}:best JSON ("" if none), wait the ms to wait ("too_soon", else 0), then
-- the attempt hash, flat (empty when no attempt is returned). One round trip answers a
-- start: the caller needs neither the attempt count nor the best attempt beforehand.
-- Every step is O(1) or O(log members) in the boards; nothing scans the members.

local base, mode, member = ARGV[1], ARGV[2], ARGV[3]
local province, unit = ARGV[4], ARGV[5]
local now = now_ms()
local bk = board_keys(base, KEYS[4], KEYS[5], KEYS[6], province, unit)

local n = tonumber(redis.call('HGET', KEYS[1], member)) or 0
local akey = base .. ':att:' .. member .. ':' .. n

local function reply(status, key, wait)
  local best = redis.call('HGET', base .. ':best', member) or ''
  local out = {status, n, now, best, wait or 0}
  if key then
    local flat = redis.call('HGETALL', key)
    for i = 1, #flat do out[#out + 1] = flat[i] end
  end
  return out
end

-- The round's board_updates (P:{C}:meta): "attempt" defers the board writes to the end.
local per_attempt = nil
if mode == 'start_open' then
  local m = redis.call('HMGET', base .. ':meta', 'state', 'board_updates')
  if m[1] ~= 'open' then
    return reply('not_open', nil)
  end
  per_attempt = m[2] == 'attempt'
  mode = 'start'
end

local ended = nil  -- when the previous attempt ended (ms), if it did
if n > 0 then
  local a = hmget(akey, unpack(EXPIRE_FIELDS))
  if a.state == 'open' and tonumber(a.deadline) < now then
    local k = {totals = KEYS[4], times = KEYS[5], lb = KEYS[6], done = KEYS[8],
      deadlines = KEYS[2]}
    expire_attempt(base, k, member, n, a, now)
    ended = tonumber(a.deadline)
  elseif a.state == 'open' then
    return reply(mode == 'start' and 'resumed' or 'latest', akey)
  elseif a.state == 'submitted' then
    ended = tonumber(redis.call('HGET', akey, 'submitted')) or tonumber(a.deadline)
  else
    ended = tonumber(a.deadline)
  end
end

if mode ~= 'start' then
  if n == 0 then return reply('no_attempt', nil) end
  return reply('latest', akey)
end

local opens_at, closes_at = tonumber(ARGV[9]), tonumber(ARGV[10])
if opens_at > 0 and now < opens_at then return reply('not_open', nil) end
if closes_at > 0 and now >= closes_at then return reply('round_closed', nil) end
local allowed = tonumber(ARGV[8])
if allowed > 0 and n >= allowed then return reply('attempts_used', nil) end
local min_gap = tonumber(ARGV[14]) or 0
if ended ~= nil and min_gap > 0 and now < ended + min_gap then
  return reply('too_soon', nil, ended + min_gap - now)
end
local drawn_for = tonumber(ARGV[13]) or 0
if drawn_for > 0 and drawn_for ~= n + 1 then return reply('redraw', nil) end

n = n + 1
akey = base .. ':att:' .. member .. ':' .. n
local deadline = now + tonumber(ARGV[7])
if closes_at > 0 and deadline > closes_at then deadline = closes_at end
local fields = {'started', num(now), 'deadline', num(deadline), 'state', 'open',
  'qs', ARGV[11], 'opt', ARGV[12], 'score', '0', 'correct', '0', 'answered', '0',
  'pv', province, 'u', unit}
if per_attempt == nil then
  per_attempt = redis.call('HGET', base .. ':meta', 'board_updates') == 'attempt'
end
if per_attempt then
  fields[#fields + 1] = 'bu'
  fields[#fields + 1] = 'attempt'
end
for i = 15, #ARGV - 1, 2 do
  fields[#fields + 1] = 'pts:' .. ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
redis.call('HSET', akey, unpack(fields))
redis.call('HSET', KEYS[1], member, n)
redis.call('ZADD', KEYS[2], num(deadline), member .. ':' .. n)
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], member, ARGV[6]) end
if per_attempt then
  -- Counted at the first start as add_participant would; on the boards at the first end.
  if n == 1 and unit ~= '' then redis.call('HINCRBY', KEYS[7], unit, 1) end
else
  add_participant(bk, KEYS[7], member, province, unit)
  refresh_best(base, bk, member, province, unit)
end
audit_event(base .. ':audit', 'start', member, n, 0, now, province, unit)
return reply('started', akey)
