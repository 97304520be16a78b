-- attempt_answer.lua: store one answer in a member's window attempt, atomically.
-- uses: _lib
--
-- KEYS[1]  P:{C}:best              member -> best attempt JSON (rule 5)
-- KEYS[2]  P:{C}:totals            member -> best score
-- KEYS[3]  P:{C}:times             member -> time used by the best attempt, ms
-- KEYS[4]  P:{C}:lb                global board
-- KEYS[5]  P:{C}:lb:p:<province>   province board (unused if ARGV[6] is "")
-- KEYS[6]  P:{C}:lb:u:<unit>       unit board (unused if ARGV[7] is "")
-- KEYS[7]  P:{C}:audit             audit stream
-- KEYS[8]  P:{C}:units:part        unit -> participants
-- KEYS[9]  P:{C}:attn              member -> latest attempt number (read by refresh_best)
-- KEYS[10] P:{C}:dist:<qid>         choice -> count (the live path's distribution)
-- KEYS[11] P:{C}:answered           qid -> accepted window answers
-- The attempt hash P:{C}:att:<member>:<n> (rule 4 of docs/scoring.md) is built from
-- ARGV[8] base (same hash tag, so the same Cluster slot), not declared: the KEYS are then
-- the same for every member answering a question in a place, and the caller's encoded
-- EVALSHA head is cached (scoring/scripts.py: _packed_head); with the member's key among
-- them every answer missed that cache (sixth session).
-- ARGV[1]  member
-- ARGV[2]  n                       attempt number
-- ARGV[3]  qid
-- ARGV[4]  fraction                graded fraction in [0, 1], as Python's repr(float)
-- ARGV[5]  choice                  the answer's distribution bucket (recorded and audited)
-- ARGV[6]  province                "" if none
-- ARGV[7]  unit                    "" if none
-- ARGV[8]  base                    P:{C}: the attempt hash and the member's other attempts
-- ARGV[9]  given                   the answer as given, JSON text ("" if unknown): recorded
--                                  as "a" and audited
-- ARGV[10..] choice keys            each counted once in the distribution
--
-- Refusals, in this order: no_attempt, attempt_closed (submitted or expired), late (Redis
-- time after the attempt deadline), not_in_attempt (no pts:<qid>), duplicate.
-- Points: plain_points(P, f) with P = pts:<qid>. The answer is stored as a:<qid> =
-- {c, f, p, t, a} (t = ms since start); score, correct, answered, last are updated (one
-- HSET: the counters were read with the refusal checks). Then the member's best attempt
-- (rule 5) is brought up to date from the stored one (P:{C}:best) without reading the
-- member's attempts: only this open attempt changed, and every other attempt is closed,
-- so (sixth session; before, refresh_best read and decoded every attempt hash on each
-- answer):
--   * the best is this attempt and the answer earned points, or it is the member's only
--     attempt: it stays the best, updated in place (score, time used, correct);
--   * the best is another attempt: this one becomes the best only if it is now better
--     (then its summary is read once), else nothing is written;
--   * otherwise (no best stored, or this best attempt earned nothing and the member has
--     earlier attempts, one of which may now be better): add_participant and
--     refresh_best, as before on every answer (a stored best means attempt_start has
--     counted the member already).
-- The boards are written only when the best changed. Each choice key is counted in
-- P:{C}:dist:<qid> and the answer in P:{C}:answered, as live answers are (organiser
-- statistics).
-- An attempt started with the round's board_updates "attempt" (its hash has bu =
-- "attempt", read with the refusal checks) skips the best attempt: nothing of P:{C}:best,
-- totals, times, the boards or units:part is written; the attempt's end
-- (attempt_submit, expire_attempt) refreshes them once (docs/scoring.md, "Board updates
-- per attempt"). Its reply's best score is then the stored one (the member's ended
-- attempts; 0 before the first ends).
-- Returns {accepted 1/0, reason or "", points, attempt score, attempt time used, t,
--          best score, now}.

local member, n, qid = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local province, unit, base = ARGV[6], ARGV[7], ARGV[8]
local akey = base .. ':att:' .. member .. ':' .. ARGV[2]
local now = now_ms()
local a = redis.call('HMGET', akey, 'state', 'started', 'deadline', 'pts:' .. qid,
  'a:' .. qid, 'score', 'last', 'answered', 'correct', 'bu')

-- The member's best score as stored (P:{C}:best), 0 if none.
local function stored_best()
  local b = redis.call('HGET', KEYS[1], member)
  if b then return cjson.decode(b).score end
  return 0
end

local function refuse(reason)
  local started = tonumber(a[2]) or 0
  local used = 0
  if a[7] then used = tonumber(a[7]) - started end
  return {0, reason, 0, tonumber(a[6]) or 0, used, 0, stored_best(), now}
end

if not a[2] then return refuse('no_attempt') end
if a[1] ~= 'open' then return refuse('attempt_closed') end
if now > tonumber(a[3]) then return refuse('late') end
if not a[4] then return refuse('not_in_attempt') end
if a[5] then return refuse('duplicate') end

local fraction = clamp(tonumber(ARGV[4]), 0, 1)
local t = now - tonumber(a[2])
local pts = plain_points(tonumber(a[4]), fraction)
local score = (tonumber(a[6]) or 0) + pts
local correct = tonumber(a[9]) or 0
local fields = {'a:' .. qid, answer_record(ARGV[5], fraction, pts, t, ARGV[9]),
  'last', num(now), 'score', num(score), 'answered', num((tonumber(a[8]) or 0) + 1)}
if fraction == 1 then
  correct = correct + 1
  fields[#fields + 1] = 'correct'
  fields[#fields + 1] = num(correct)
end
redis.call('HSET', akey, unpack(fields))

local function counted()
  for i = 10, #ARGV do redis.call('HINCRBY', KEYS[10], ARGV[i], 1) end
  redis.call('HINCRBY', KEYS[11], qid, 1)
  audit(KEYS[7], member, qid, n, ARGV[5], num(fraction), pts, t, now, province, unit,
    ARGV[9])
end

if a[10] == 'attempt' then
  -- board_updates "attempt": the best attempt and boards are written when it ends.
  counted()
  return {1, '', pts, score, t, t, stored_best(), now}
end

local bk = {totals = KEYS[2], times = KEYS[3], lb = KEYS[4], lbp = KEYS[5], lbu = KEYS[6]}

-- The member's best attempt after this answer (see the header); t is this open attempt's
-- time used (last - started, last = now).
local stored = redis.call('HGET', KEYS[1], member)
local best = nil
if stored then best = cjson.decode(stored) end
if best ~= nil and best.n == n and (pts > 0 or n == 1) then
  best.score, best.time_used, best.correct = score, t, correct
  redis.call('HSET', KEYS[1], member, cjson.encode(best))
  set_board(bk, member, score, t, province, unit)
elseif best ~= nil and best.n ~= n then
  if better({n = n, score = score, time_used = t}, best) then
    best = attempt_summary(base, member, n)
    redis.call('HSET', KEYS[1], member, cjson.encode(best))
    set_board(bk, member, best.score, best.time_used, province, unit)
  end
else
  -- A stored best means attempt_start has counted the member (add_participant) already.
  add_participant(bk, KEYS[8], member, province, unit)
  best = refresh_best(base, bk, member, province, unit)
end

counted()
return {1, '', pts, score, t, t, best and best.score or score, now}
