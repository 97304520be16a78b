-- accept_answer_v1.lua: the per-answer accept of the fourth session (every board written at
-- once), kept as the reference the bulk-at-close path is checked against
-- (tests/test_scoring_bulk.py). Not used by the engine.
-- uses: _lib
--
-- KEYS[1]  P:{C}:q:<qid>          live question state (opens, deadline, T, P, speed, idx, state)
-- KEYS[2]  P:{C}:ans:<qid>        member -> recorded answer JSON {c, f, p, t, a}; first one wins
-- KEYS[3]  P:{C}:dist:<qid>       choice -> count
-- KEYS[4]  P:{C}:meta             reads streak_step, streak_cap, eliminate, closed_idx
-- KEYS[5]  P:{C}:totals           member -> total points
-- KEYS[6]  P:{C}:times            member -> time used (sum of t), ms
-- KEYS[7]  P:{C}:lb               global board (composite score)
-- KEYS[8]  P:{C}:lb:p:<province>  province board (unused if ARGV[5] is "")
-- KEYS[9]  P:{C}:lb:u:<unit>      unit board (unused if ARGV[6] is "")
-- KEYS[10] P:{C}:audit            audit stream
-- KEYS[11] P:{C}:units:part       unit -> participants
-- KEYS[12] P:{C}:ok:<qid>         members fully correct on this question
-- KEYS[13] P:{C}:players          members of a show with elimination
-- KEYS[14] P:{C}:out              eliminated members
-- KEYS[15] P:{C}:streak           member -> "<idx>:<streak>"
-- ARGV[1]  member
-- ARGV[2]  qid
-- ARGV[3]  fraction               graded fraction in [0, 1], as Python's repr(float)
-- ARGV[4]  choice                 the answer's distribution bucket (recorded and audited)
-- ARGV[5]  province               "" if none
-- ARGV[6]  unit                   "" if none
-- ARGV[7]  given                  the answer as given, JSON text ("" if unknown): recorded
--                                 as "a" and audited
-- ARGV[8..] choice keys           each counted once in the distribution
--
-- Refusals, in this order: not_open (unknown, or before opens), closed, late (Redis time
-- after deadline), eliminated, duplicate (the member already answered: first one wins).
-- Points: speed_points(P, f, now - opens, T) if speed else plain_points(P, f), plus the
-- streak bonus streak_step * min(streak - 1, streak_cap) for a fully correct answer
-- (streaks are tracked only when streak_step > 0; the outcome's streak is 0 otherwise).
-- Returns {accepted 1/0, reason or "", points, total, time_used, t, streak, now}.

local member, qid = ARGV[1], ARGV[2]
local province, unit = ARGV[5], ARGV[6]
local now = now_ms()

local function refuse(reason)
  local total = tonumber(redis.call('HGET', KEYS[5], member)) or 0
  local used = tonumber(redis.call('HGET', KEYS[6], member)) or 0
  return {0, reason, 0, total, used, 0, 0, now}
end

local q = redis.call('HMGET', KEYS[1], 'state', 'opens', 'deadline', 'T', 'P', 'speed', 'idx')
local state = q[1]
if not state then return refuse('not_open') end
if state == 'closed' then return refuse('closed') end
local opens, deadline = tonumber(q[2]), tonumber(q[3])
if now < opens then return refuse('not_open') end
if now > deadline then return refuse('late') end

local meta = redis.call('HMGET', KEYS[4], 'streak_step', 'streak_cap', 'eliminate', 'closed_idx')
if meta[3] == '1' then
  if redis.call('SISMEMBER', KEYS[14], member) == 1 then return refuse('eliminated') end
  if redis.call('SADD', KEYS[13], member) == 1 and meta[4] then
    -- first seen after a question closed: a late joiner of an elimination show is out
    redis.call('SADD', KEYS[14], member)
    return refuse('eliminated')
  end
end

local fraction = clamp(tonumber(ARGV[3]), 0, 1)
local T, P, idx = tonumber(q[4]), tonumber(q[5]), tonumber(q[7])
local t = clamp(now - opens, 0, T)
local pts
if q[6] == '1' then pts = speed_points(P, fraction, t, T) else pts = plain_points(P, fraction) end

local streak = 0
local step = tonumber(meta[1]) or 0
if fraction == 1 and step > 0 then
  local prev = redis.call('HGET', KEYS[15], member)
  streak = 1
  if prev then
    local pidx, pstreak = string.match(prev, '^(%-?%d+):(%d+)$')
    if tonumber(pidx) == idx - 1 then streak = tonumber(pstreak) + 1 end
  end
  pts = pts + step * math.min(streak - 1, tonumber(meta[2]) or 0)
end

local record = answer_record(ARGV[4], fraction, pts, t, ARGV[7])
if redis.call('HSETNX', KEYS[2], member, record) == 0 then return refuse('duplicate') end
if fraction == 1 then
  if step > 0 then redis.call('HSET', KEYS[15], member, num(idx) .. ':' .. num(streak)) end
  redis.call('SADD', KEYS[12], member)
end

-- The standing: HSETNX writes the first total and tells a new participant (counted once
-- in their unit); later answers add with HINCRBY; the composite goes on the boards as in
-- _lib's set_board.
local total
if redis.call('HSETNX', KEYS[5], member, num(pts)) == 1 then
  total = pts
  if unit ~= '' then redis.call('HINCRBY', KEYS[11], unit, 1) end
else
  total = redis.call('HINCRBY', KEYS[5], member, num(pts))
end
local used = redis.call('HINCRBY', KEYS[6], member, num(t))
local c = num(composite(total, used))
redis.call('ZADD', KEYS[7], c, member)
if province ~= '' then redis.call('ZADD', KEYS[8], c, member) end
if unit ~= '' then redis.call('ZADD', KEYS[9], c, member) end
for i = 8, #ARGV do redis.call('HINCRBY', KEYS[3], ARGV[i], 1) end
audit(KEYS[10], member, qid, 0, ARGV[4], num(fraction), pts, t, now, province, unit, ARGV[7])
return {1, '', pts, total, used, t, streak, now}
