-- attempt_answer_v1.lua: the window answer of the fifth session (the member's best attempt
-- recomputed from every attempt hash, boards written, on each answer), kept as the
-- reference the incremental script is checked against (tests/test_window_answer_v1.py).
-- Not used by the engine.
-- uses: _lib
--
-- KEYS[1]  P:{C}:att:<member>:<n>  the attempt hash (rule 4 of docs/scoring.md)
-- KEYS[2]  P:{C}:best              member -> best attempt JSON (rule 5)
-- KEYS[3]  P:{C}:totals            member -> best score
-- KEYS[4]  P:{C}:times             member -> time used by the best attempt, ms
-- KEYS[5]  P:{C}:lb                global board
-- KEYS[6]  P:{C}:lb:p:<province>   province board (unused if ARGV[6] is "")
-- KEYS[7]  P:{C}:lb:u:<unit>       unit board (unused if ARGV[7] is "")
-- KEYS[8]  P:{C}:audit             audit stream
-- KEYS[9]  P:{C}:units:part        unit -> participants
-- KEYS[10] P:{C}:attn              member -> latest attempt number (read by refresh_best)
-- KEYS[11] P:{C}:dist:<qid>         choice -> count (the live path's distribution)
-- KEYS[12] P:{C}:answered           qid -> accepted window answers
-- ARGV[1]  member
-- ARGV[2]  n                       attempt number
-- ARGV[3]  qid
-- ARGV[4]  fraction                graded fraction in [0, 1], as Python's repr(float)
-- ARGV[5]  choice                  the answer's distribution bucket (recorded and audited)
-- ARGV[6]  province                "" if none
-- ARGV[7]  unit                    "" if none
-- ARGV[8]  base                    P:{C}, to reach the member's other attempts
-- ARGV[9]  given                   the answer as given, JSON text ("" if unknown): recorded
--                                  as "a" and audited
-- ARGV[10..] choice keys            each counted once in the distribution
--
-- Refusals, in this order: no_attempt, attempt_closed (submitted or expired), late (Redis
-- time after the attempt deadline), not_in_attempt (no pts:<qid>), duplicate.
-- Points: plain_points(P, f) with P = pts:<qid>. The answer is stored as a:<qid> =
-- {c, f, p, t, a} (t = ms since start); score, correct, answered, last are updated; then the
-- member's best attempt is recomputed (refresh_best) and written to the boards. Each
-- choice key is counted in P:{C}:dist:<qid> and the answer in P:{C}:answered, as live
-- answers are (organiser statistics).
-- Returns {accepted 1/0, reason or "", points, attempt score, attempt time used, t,
--          best score, now}.

local member, n, qid = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local province, unit = ARGV[6], ARGV[7]
local now = now_ms()
local a = redis.call('HMGET', KEYS[1], 'state', 'started', 'deadline', 'pts:' .. qid,
  'a:' .. qid, 'score', 'last')

local function refuse(reason)
  local started = tonumber(a[2]) or 0
  local used = 0
  if a[7] then used = tonumber(a[7]) - started end
  local best = 0
  local b = redis.call('HGET', KEYS[2], member)
  if b then best = cjson.decode(b).score end
  return {0, reason, 0, tonumber(a[6]) or 0, used, 0, best, now}
end

if not a[2] then return refuse('no_attempt') end
if a[1] ~= 'open' then return refuse('attempt_closed') end
if now > tonumber(a[3]) then return refuse('late') end
if not a[4] then return refuse('not_in_attempt') end
if a[5] then return refuse('duplicate') end

local fraction = clamp(tonumber(ARGV[4]), 0, 1)
local started = tonumber(a[2])
local t = now - started
local pts = plain_points(tonumber(a[4]), fraction)
redis.call('HSET', KEYS[1], 'a:' .. qid, answer_record(ARGV[5], fraction, pts, t, ARGV[9]),
  'last', num(now))
local score = redis.call('HINCRBY', KEYS[1], 'score', pts)
redis.call('HINCRBY', KEYS[1], 'answered', 1)
if fraction == 1 then redis.call('HINCRBY', KEYS[1], 'correct', 1) end

local bk = {totals = KEYS[3], times = KEYS[4], lb = KEYS[5], lbp = KEYS[6], lbu = KEYS[7]}
add_participant(bk, KEYS[9], member, province, unit)
local best = refresh_best(ARGV[8], bk, member, province, unit)
for i = 10, #ARGV do redis.call('HINCRBY', KEYS[11], ARGV[i], 1) end
redis.call('HINCRBY', KEYS[12], qid, 1)
audit(KEYS[8], member, qid, n, ARGV[5], num(fraction), pts, t, now, province, unit,
  ARGV[9])
return {1, '', pts, score, t, t, best and best.score or score, now}
