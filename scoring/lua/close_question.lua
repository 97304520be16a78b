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
-- ARGV[2]  chunk              most audit entries to apply in this call
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
for _, entry in ipairs(batch) do
  local f = {}
  local flat = entry[2]
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  if f.e == nil and (f.n or '0') == '0' then
    local member, q, pv, u = f.m, f.q, f.pv or '', f.u or ''
    local pts, t = tonumber(f.p), tonumber(f.t)
    local total
    if redis.call('HSETNX', KEYS[9], member, num(pts)) == 1 then
      total = pts
      if u ~= '' then redis.call('HINCRBY', KEYS[12], u, 1) end
    else
      total = tonumber(redis.call('HINCRBY', KEYS[9], member, num(pts)))
    end
    local used = tonumber(redis.call('HINCRBY', KEYS[10], member, num(t)))
    local c = num(composite(total, used))
    redis.call('ZADD', KEYS[11], c, member)
    if pv ~= '' then redis.call('ZADD', base .. ':lb:p:' .. pv, c, member) end
    if u ~= '' then redis.call('ZADD', base .. ':lb:u:' .. u, c, member) end
    local dist = base .. ':dist:' .. q
    if f.k then
      for _, key in ipairs(cjson.decode(f.k)) do redis.call('HINCRBY', dist, key, 1) end
    else
      redis.call('HINCRBY', dist, f.c, 1)
    end
    if tonumber(f.f) == 1 then redis.call('SADD', base .. ':ok:' .. q, member) end
    if f.s then redis.call('HSET', KEYS[13], member, f.s) end
  end
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
