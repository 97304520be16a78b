-- close_question.lua: close a live question, apply its answers in bulk, then eliminate.
-- uses: _lib
--
-- KEYS[1]  P:{C}:q:<qid>      live question state; state becomes "closed", closed_at = now
-- KEYS[2]  P:{C}:dist:<qid>   choice -> count (returned)
-- KEYS[3]  P:{C}:meta         reads eliminate; closed_idx = highest closed idx;
--                             applied = id of the last audit entry applied
-- KEYS[4]  P:{C}:ok:<qid>     members fully correct on this question
-- KEYS[5]  P:{C}:players      members of a show with elimination
-- KEYS[6]  P:{C}:out          eliminated members
-- KEYS[7]  P:{C}:out:<qid>    members eliminated by this question (written here)
-- KEYS[8]  P:{C}:audit        audit stream (read from the entry after meta.applied)
-- KEYS[9]  P:{C}:totals       member -> total points
-- KEYS[10] P:{C}:times        member -> time used, ms
-- KEYS[11] P:{C}:lb           global board (composite score)
-- KEYS[12] P:{C}:units:part   unit -> participants
-- KEYS[13] P:{C}:streak       member -> "<idx>:<streak>"
-- ARGV[1]  base               P:{C}: province and unit boards, and the dist and ok keys of
--                             an entry's own question, are built from it (same hash tag)
-- ARGV[2]  chunk              most audit entries to apply in this call (at most 3,000)
--
-- accept_answer.lua only records an answer and audits it; this applies what it earned,
-- in audit order, up to ARGV[2] entries a call: total (HSETNX counts a new participant
-- once in their unit), time used, the boards (composite as in _lib's set_board), the
-- distribution (field k, else c), the fully-correct set and the streak (field s, which
-- accept_answer.lua wrote when it counted one).
-- meta.applied advances in the same call, so each entry is applied exactly once however
-- often the call is repeated (by a conductor that took over, for instance). While entries
-- remain the call returns more = 1 and the caller calls again. Once none remain: with
-- eliminate = "1" in meta, every player still in the game who did not answer this question
-- fully correctly is eliminated (once: out:<qid> = players - ok:<qid> - out; out += out:<qid>).
-- Closing again changes nothing and returns the same figures.
-- Returns {closed_now 1/0 (or -1: no such question), more 1/0, eliminated by this question,
--          players still in, fully correct count, flat distribution [choice, count, ...]}.

local base, chunk = ARGV[1], tonumber(ARGV[2])
-- a chunk's members go to HMGET/HSET/ZADD as unpacked arguments: keep below Lua's stack
if chunk > 3000 then chunk = 3000 end
local now = now_ms()
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1, 0, 0, 0, 0, {}} end
local closed_now = 0
if state ~= 'closed' then
  closed_now = 1
  redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_at', num(now))
  local idx = tonumber(redis.call('HGET', KEYS[1], 'idx')) or 0
  local prev = tonumber(redis.call('HGET', KEYS[3], 'closed_idx'))
  if prev == nil or idx > prev then redis.call('HSET', KEYS[3], 'closed_idx', num(idx)) end
end

-- Apply the answers audited since the last call.
local meta = redis.call('HMGET', KEYS[3], 'applied', 'eliminate')
local batch = redis.call('XRANGE', KEYS[8], '(' .. (meta[1] or '0-0'), '+', 'COUNT', chunk)

-- Read the chunk's entries, then every member's stored total and time in one HMGET each.
local entries, members, seen = {}, {}, {}
for _, entry in ipairs(batch) do
  local f = {}
  local flat = entry[2]
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  if f.e == nil and (f.n or '0') == '0' then
    entries[#entries + 1] = f
    if not seen[f.m] then
      seen[f.m] = true
      members[#members + 1] = f.m
    end
  end
end
if #members > 0 then
  local totals = redis.call('HMGET', KEYS[9], unpack(members))
  local times = redis.call('HMGET', KEYS[10], unpack(members))
  local total, used = {}, {}
  for i, member in ipairs(members) do
    total[member] = tonumber(totals[i])
    used[member] = tonumber(times[i]) or 0
  end
  -- Fold the entries in order, as one accept at a time wrote them: a member's first
  -- total counts them in their unit; each entry puts the composite after it on its
  -- place's boards; the distribution, fully-correct sets and streaks are counted up.
  local boards, units, dist, ok, streak = {}, {}, {}, {}, {}
  -- t[key], a table created on first use
  local function slot(t, key)
    local found = t[key]
    if found == nil then
      found = {}
      t[key] = found
    end
    return found
  end
  for _, f in ipairs(entries) do
    local member, q, pv, u = f.m, f.q, f.pv or '', f.u or ''
    if total[member] == nil then
      total[member] = 0
      if u ~= '' then units[u] = (units[u] or 0) + 1 end
    end
    total[member] = total[member] + tonumber(f.p)
    used[member] = used[member] + tonumber(f.t)
    local c = composite(total[member], used[member])
    slot(boards, KEYS[11])[member] = c
    if pv ~= '' then slot(boards, base .. ':lb:p:' .. pv)[member] = c end
    if u ~= '' then slot(boards, base .. ':lb:u:' .. u)[member] = c end
    local counts = slot(dist, q)
    if f.k then
      for _, key in ipairs(cjson.decode(f.k)) do counts[key] = (counts[key] or 0) + 1 end
    else
      counts[f.c] = (counts[f.c] or 0) + 1
    end
    if tonumber(f.f) == 1 then table.insert(slot(ok, q), member) end
    if f.s then streak[member] = f.s end
  end
  -- Write it all, a few variadic commands per chunk rather than several per answer.
  local flat_totals, flat_times, flat_streak = {}, {}, {}
  for _, member in ipairs(members) do
    flat_totals[#flat_totals + 1] = member
    flat_totals[#flat_totals + 1] = num(total[member])
    flat_times[#flat_times + 1] = member
    flat_times[#flat_times + 1] = num(used[member])
    if streak[member] then
      flat_streak[#flat_streak + 1] = member
      flat_streak[#flat_streak + 1] = streak[member]
    end
  end
  redis.call('HSET', KEYS[9], unpack(flat_totals))
  redis.call('HSET', KEYS[10], unpack(flat_times))
  if #flat_streak > 0 then redis.call('HSET', KEYS[13], unpack(flat_streak)) end
  for board, scores in pairs(boards) do
    local args = {}
    for member, score in pairs(scores) do
      args[#args + 1] = num(score)
      args[#args + 1] = member
    end
    redis.call('ZADD', board, unpack(args))
  end
  for unit, n in pairs(units) do redis.call('HINCRBY', KEYS[12], unit, n) end
  for q, counts in pairs(dist) do
    for key, n in pairs(counts) do redis.call('HINCRBY', base .. ':dist:' .. q, key, n) end
  end
  for q, list in pairs(ok) do redis.call('SADD', base .. ':ok:' .. q, unpack(list)) end
end
if #batch > 0 then redis.call('HSET', KEYS[3], 'applied', batch[#batch][1]) end
if #batch >= chunk then return {closed_now, 1, 0, 0, 0, {}} end

if meta[2] == '1' and redis.call('HSETNX', KEYS[1], 'eliminated', '1') == 1 then
  redis.call('SDIFFSTORE', KEYS[7], KEYS[5], KEYS[4], KEYS[6])
  redis.call('SUNIONSTORE', KEYS[6], KEYS[6], KEYS[7])
end
local alive = redis.call('SCARD', KEYS[5]) - redis.call('SCARD', KEYS[6])
return {closed_now, 0, redis.call('SCARD', KEYS[7]), alive, redis.call('SCARD', KEYS[4]),
  redis.call('HGETALL', KEYS[2])}
