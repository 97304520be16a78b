-- accept_answer.lua: accept (or refuse) one member's answer to a live question, atomically.
-- uses: _lib
--
-- Only what must happen at once: the checks, the one recorded answer per member and
-- question (HSETNX) and its audit entry (XADD). Totals, times, boards, the distribution,
-- the fully-correct set and streaks are applied in bulk when the question closes, from
-- the audit stream (close_question.lua): nobody sees them before the reveal.
--
-- KEYS[1]  P:{C}:q:<qid>          live question state (opens, deadline, T, P, speed, idx, state)
-- KEYS[2]  P:{C}:ans:<qid>        member -> recorded answer JSON {c, f, p, t, a}; first one wins
-- KEYS[3]  P:{C}:meta             reads streak_step, streak_cap, eliminate, closed_idx
-- KEYS[4]  P:{C}:totals           member -> total points (read: as of the last close)
-- KEYS[5]  P:{C}:times            member -> time used, ms (read: as of the last close)
-- KEYS[6]  P:{C}:audit            audit stream (the answer is appended here)
-- KEYS[7]  P:{C}:players          members of a show with elimination
-- KEYS[8]  P:{C}:out              eliminated members
-- KEYS[9]  P:{C}:streak           member -> "<idx>:<streak>" (read: as of the last close)
-- ARGV[1]  member
-- ARGV[2]  qid
-- ARGV[3]  fraction               graded fraction in [0, 1], as Python's repr(float)
-- ARGV[4]  choice                 the answer's distribution bucket (recorded and audited)
-- ARGV[5]  province               "" if none
-- ARGV[6]  unit                   "" if none
-- ARGV[7]  given                  the answer as given, JSON text ("" if unknown): recorded
--                                 as "a" and audited
-- ARGV[8..] choice keys           each counted once in the distribution at close (audited
--                                 as field k, a JSON list, unless they are just {choice})
--
-- The audit entry of a live answer may carry, beside rule 7's fields, k (those choice
-- keys) and s ("<idx>:<streak>" of a fully correct answer when streaks are tracked: what
-- the close writes to P:{C}:streak).
--
-- Refusals, in this order: not_open (unknown, or before opens), closed, late (Redis time
-- after deadline), eliminated, duplicate (the member already answered: first one wins).
-- Points: speed_points(P, f, now - opens, T) if speed else plain_points(P, f), plus the
-- streak bonus streak_step * min(streak - 1, streak_cap) for a fully correct answer
-- (streaks are tracked only when streak_step > 0; the outcome's streak is 0 otherwise).
-- The total and time used returned are the stored ones (every closed question) plus this
-- answer's; a refusal returns the stored ones (a duplicate: plus the recorded answer's
-- points, since its question is still open).
-- Returns {accepted 1/0, reason or "", points, total, time_used, t, streak, now}.

local member, qid = ARGV[1], ARGV[2]
local now = now_ms()

local function stored()
  return tonumber(redis.call('HGET', KEYS[4], member)) or 0,
    tonumber(redis.call('HGET', KEYS[5], member)) or 0
end

local function refuse(reason, pending)
  local total, used = stored()
  return {0, reason, 0, total + (pending or 0), used, 0, 0, now}
end

local q = redis.call('HMGET', KEYS[1], 'state', 'opens', 'deadline', 'T', 'P', 'speed', 'idx')
local state = q[1]
if not state then return refuse('not_open') end
if state == 'closed' then return refuse('closed') end
local opens, deadline = tonumber(q[2]), tonumber(q[3])
if now < opens then return refuse('not_open') end
if now > deadline then return refuse('late') end

local meta = redis.call('HMGET', KEYS[3], 'streak_step', 'streak_cap', 'eliminate', 'closed_idx')
if meta[3] == '1' then
  if redis.call('SISMEMBER', KEYS[8], member) == 1 then return refuse('eliminated') end
  if redis.call('SADD', KEYS[7], member) == 1 and meta[4] then
    -- first seen after a question closed: a late joiner of an elimination show is out
    redis.call('SADD', KEYS[8], member)
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
  streak = next_streak(redis.call('HGET', KEYS[9], member), idx)
  pts = pts + step * math.min(streak - 1, tonumber(meta[2]) or 0)
end

local record = answer_record(ARGV[4], fraction, pts, t, ARGV[7])
if redis.call('HSETNX', KEYS[2], member, record) == 0 then
  -- the recorded answer's points (",\"p\":" cannot occur inside its cjson-encoded "c")
  local first = redis.call('HGET', KEYS[2], member)
  return refuse('duplicate', tonumber(string.match(first, ',"p":(%-?[%d%.eE+%-]+)')))
end

local extra = {}
if not (#ARGV == 8 and ARGV[8] == ARGV[4]) then
  local list = {}
  for i = 8, #ARGV do list[#list + 1] = ARGV[i] end
  extra = {'k', #list == 0 and '[]' or cjson.encode(list)}
end
if streak > 0 then
  extra[#extra + 1] = 's'
  extra[#extra + 1] = num(idx) .. ':' .. num(streak)
end
audit(KEYS[6], member, qid, 0, ARGV[4], num(fraction), pts, t, now, ARGV[5], ARGV[6], ARGV[7],
  extra)
local total, used = stored()
return {1, '', pts, total + pts, used + t, t, streak, now}
