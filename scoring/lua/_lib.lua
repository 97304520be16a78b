-- _lib.lua: the shared prelude, prepended by scoring/scripts.py to every script whose
-- header has the line "-- uses: _lib". Only local functions and constants; no KEYS/ARGV.
--
-- Conventions every script follows:
--   * times are integer milliseconds read from Redis's own clock (now_ms);
--   * numbers written to Redis go through num() so large integers keep every digit
--     (Lua's tostring keeps only 14 significant digits);
--   * a board entry is written by set_board: totals, times and the composite score in
--     the global, province and unit sorted sets (see scoring/keys.py);
--   * a key built inside a script from ARGV "base" (P:{C}) carries the contest's hash tag,
--     so it lives in the same Redis Cluster slot as the declared KEYS.

local TWO32 = 4294967296
local MAX_TIME = TWO32 - 1

-- Redis TIME as integer milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function round_half_up(x)
  return math.floor(x + 0.5)
end

-- An integer or float as text Redis parses back to the same double.
local function num(x)
  if x == math.floor(x) and math.abs(x) < 1e15 then
    return string.format('%d', x)
  end
  return string.format('%.17g', x)
end

-- A recorded answer {c, f, p, t, a} as JSON. Not cjson.encode of the table: cjson writes
-- numbers with 14 significant digits, so a fraction of 1 - 2^-52 came back as 1 (shown
-- fully correct) and 1/3 as 0.33333333333333; num() keeps every digit of the double.
-- c is the distribution bucket; a is the answer as the member gave it: given, JSON text
-- the caller encoded (msgspec), embedded as it is (never decoded here, so a number keeps
-- every digit); left out when given is "".
local function answer_record(choice, fraction, pts, t, given)
  local rec = '{"c":' .. cjson.encode(choice) .. ',"f":' .. num(fraction) .. ',"p":' .. num(pts)
    .. ',"t":' .. num(t)
  if given ~= '' then rec = rec .. ',"a":' .. given end
  return rec .. '}'
end

local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end

-- Points without speed: round_half_up(P * fraction).
local function plain_points(p, fraction)
  return round_half_up(p * fraction)
end

-- Points with speed: round_half_up(P * fraction * (1 - (t / T) / 2)), t clamped to [0, T].
-- Evaluated left to right exactly as scoring/points.py does, so the doubles agree.
local function speed_points(p, fraction, t, T)
  if T <= 0 then return round_half_up(p * fraction) end
  t = clamp(t, 0, T)
  return round_half_up(p * fraction * (1 - (t / T) / 2))
end

-- Composite board score: score desc, then time used asc, in one double.
local function composite(score, time_used)
  return score * TWO32 + (MAX_TIME - clamp(time_used, 0, MAX_TIME))
end

-- Write a member's standing: bk = {totals=, times=, lb=, lbp=, lbu=} (key names);
-- province/unit "" skip their boards.
local function set_board(bk, member, score, time_used, province, unit)
  redis.call('HSET', bk.totals, member, num(score))
  redis.call('HSET', bk.times, member, num(time_used))
  local c = num(composite(score, time_used))
  redis.call('ZADD', bk.lb, c, member)
  if province ~= '' then redis.call('ZADD', bk.lbp, c, member) end
  if unit ~= '' then redis.call('ZADD', bk.lbu, c, member) end
end

-- Count a member once as a participant of their unit (units:part) and put them on the
-- boards with score 0 if they are not there yet. Returns true the first time.
local function add_participant(bk, part_key, member, province, unit)
  if redis.call('HSETNX', bk.totals, member, '0') == 1 then
    set_board(bk, member, 0, 0, province, unit)
    if unit ~= '' then redis.call('HINCRBY', part_key, unit, 1) end
    return true
  end
  return false
end

-- Count a member once as having completed an attempt (units:done), using the set
-- done_set (P:{C}:done) of members already counted. Returns true the first time.
local function add_completed(done_set, done_key, member, unit)
  if redis.call('SADD', done_set, member) == 1 then
    if unit ~= '' then redis.call('HINCRBY', done_key, unit, 1) end
    return true
  end
  return false
end

-- Append an accepted answer to the audit stream (rule 7 of docs/scoring.md): choice is
-- the distribution bucket, given the answer as given (JSON text, "" if unknown); extra
-- (optional) a flat list of further field, value pairs (live answers: k, s).
local function audit(key, member, qid, n, choice, fraction, pts, t, at, province, unit, given,
    extra)
  local args = {'m', member, 'q', qid, 'n', num(n), 'c', choice, 'f', fraction, 'p', num(pts),
    't', num(t), 'at', num(at), 'pv', province, 'u', unit, 'a', given}
  for _, v in ipairs(extra or {}) do args[#args + 1] = v end
  return redis.call('XADD', key, '*', unpack(args))
end

-- A live streak after a fully correct answer to the question of index idx, from the
-- member's stored "<idx>:<streak>" (prev, or nil): one more if the last fully correct
-- answer was to question idx - 1, else 1.
local function next_streak(prev, idx)
  if prev then
    local pidx, pstreak = string.match(prev, '^(%-?%d+):(%d+)$')
    if tonumber(pidx) == idx - 1 then return tonumber(pstreak) + 1 end
  end
  return 1
end

-- Time used by a window attempt (rule 5): open last-started, submitted submitted-started,
-- expired deadline-started. a = the attempt hash as a field -> value table.
local function attempt_time_used(a)
  local started = tonumber(a.started) or 0
  if a.state == 'submitted' then return (tonumber(a.submitted) or started) - started end
  if a.state == 'expired' then return (tonumber(a.deadline) or started) - started end
  return (tonumber(a.last) or started) - started
end

-- Read a hash into a field -> value table.
local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- Summary of attempt n of a member as the best-attempt JSON table (rule 5), or nil.
local function attempt_summary(base, member, n)
  local a = hgetall(base .. ':att:' .. member .. ':' .. n)
  if a.started == nil then return nil end
  local nq = 0
  if a.qs then nq = #cjson.decode(a.qs) end
  return {
    n = n,
    score = tonumber(a.score) or 0,
    time_used = attempt_time_used(a),
    submitted = tonumber(a.submitted) or 0,
    prediction = a.prediction and tonumber(a.prediction) or cjson.null,
    correct = tonumber(a.correct) or 0,
    nq = nq,
  }
end

-- Is summary x better than y? Higher score, or equal score with less time used;
-- on a full tie the earlier attempt stays.
local function better(x, y)
  if y == nil then return true end
  if x.score ~= y.score then return x.score > y.score end
  if x.time_used ~= y.time_used then return x.time_used < y.time_used end
  return x.n < y.n
end

-- The board keys of a member of *province* and *unit*: bk for set_board and refresh_best.
local function board_keys(base, totals, times, lb, province, unit)
  return {totals = totals, times = times, lb = lb,
    lbp = base .. ':lb:p:' .. province, lbu = base .. ':lb:u:' .. unit}
end

-- A deadlines-queue entry "member:n" -> member, n (n nil if it is not a number).
local function split_entry(entry)
  local sep = string.find(entry, ':[^:]*$')
  return string.sub(entry, 1, sep - 1), tonumber(string.sub(entry, sep + 1))
end

-- Recompute a member's best attempt from all their attempts (P:{C}:attn gives how many),
-- store it in P:{C}:best and on the boards. Returns the best summary (or nil).
-- Call it after anything changes an attempt's score, state or times.
local function refresh_best(base, bk, member, province, unit)
  local count = tonumber(redis.call('HGET', base .. ':attn', member)) or 0
  local best = nil
  for n = 1, count do
    local s = attempt_summary(base, member, n)
    if s ~= nil and better(s, best) then best = s end
  end
  if best == nil then return nil end
  redis.call('HSET', base .. ':best', member, cjson.encode(best))
  set_board(bk, member, best.score, best.time_used, province, unit)
  return best
end

-- Append an attempt event to the audit stream (scoring/audit.py): event 'start' when an
-- attempt begins (t = 0), 'close' when it is submitted or expires (t = its final time
-- used), so the boards rebuild exactly from the stream.
local function audit_event(key, event, member, n, t, at, province, unit)
  return redis.call('XADD', key, '*', 'e', event, 'm', member, 'n', num(n), 't', num(t),
    'at', num(at), 'pv', province, 'u', unit)
end

-- Read the named fields of a hash into a field -> value table (absent fields stay nil).
local function hmget(key, ...)
  local names = {...}
  local values = redis.call('HMGET', key, unpack(names))
  local t = {}
  for i, name in ipairs(names) do
    if values[i] then t[name] = values[i] end
  end
  return t
end

-- Fields of an attempt hash expire_attempt needs (read them with hmget or hgetall).
local EXPIRE_FIELDS = {'state', 'started', 'deadline', 'answered', 'qs', 'pv', 'u'}

-- Close open attempt n of a member at its deadline (the sweeper's step, also taken by
-- attempt_start/attempt_submit when they meet an overdue attempt): state "expired",
-- time_used = deadline - started; the entry "member:n" leaves the deadlines queue (unless
-- k.deadlines is nil: the caller removes it); the member counts as completed (units:done)
-- if every drawn question was answered; the best attempt and boards are refreshed; an
-- e=close event (t = time used) is audited. This is where an attempt of a round with
-- board_updates "attempt" reaches the boards, as attempt_submit's refresh_best is on a
-- submit. k = {totals=, times=, lb=, done=, deadlines=} (key names; done =
-- P:{C}:units:done), a = the attempt's EXPIRE_FIELDS as a table.
-- Returns the time used.
local function expire_attempt(base, k, member, n, a, now)
  local used = tonumber(a.deadline) - tonumber(a.started)
  redis.call('HSET', base .. ':att:' .. member .. ':' .. n, 'state', 'expired',
    'time_used', num(used))
  if k.deadlines then redis.call('ZREM', k.deadlines, member .. ':' .. n) end
  local pv, u = a.pv or '', a.u or ''
  if tonumber(a.answered) == #cjson.decode(a.qs) then
    add_completed(base .. ':done', k.done, member, u)
  end
  refresh_best(base, board_keys(base, k.totals, k.times, k.lb, pv, u), member, pv, u)
  audit_event(base .. ':audit', 'close', member, n, used, now, pv, u)
  return used
end
