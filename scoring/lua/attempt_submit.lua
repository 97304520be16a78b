-- attempt_submit.lua: hand in the open attempt, or record its prediction beforehand.
-- uses: _lib
--
-- KEYS[1]  P:{C}:attn          member -> number of attempts started
-- KEYS[2]  P:{C}:deadlines     zset "member:n" -> attempt deadline
-- KEYS[3]  P:{C}:totals        board: member -> score
-- KEYS[4]  P:{C}:times         board: member -> time used
-- KEYS[5]  P:{C}:lb            global board
-- KEYS[6]  P:{C}:units:done    unit -> members with a completed attempt
-- ARGV[1]  base                P:{C}
-- ARGV[2]  mode                "submit": close the attempt; "predict": only store the
--                              prediction on the open attempt
-- ARGV[3]  member
-- ARGV[4]  prediction          a whole number >= 0, or "" for none
-- ARGV[5]  require             "1": refuse to submit without a prediction (none given now
--                              nor stored before)
--
-- Refusals: "no_attempt" (never started), "attempt_closed" (the latest attempt is already
-- submitted or expired), "late" (the deadline has passed: the attempt is expired now, as
-- attempt_expire.lua does, and the prediction is not stored), "prediction_required".
-- Submitting stores submitted = now, time_used = now - started and the prediction (a
-- prediction given now replaces one stored before), removes the attempt from the sweeper's
-- queue, counts the member as completed (units:done) and refreshes the best attempt and
-- the boards. Closing (submitted or late) appends an e=close event to P:{C}:audit.
-- Storing a prediction refreshes the best attempt too (it carries the prediction), unless
-- the attempt was started with the round's board_updates "attempt" (bu = "attempt"):
-- then its end does (docs/scoring.md, "Board updates per attempt").
-- Returns {status, n, now, best, field, value, ...} (status "submitted" / "predicted" or
-- the refusal; best the member's P:{C}:best JSON after the call, "" if none; then the
-- attempt hash, flat, whenever there is an attempt). One round trip answers a submit: the
-- caller needs no read of the best attempt afterwards.

local base, mode, member, prediction = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = now_ms()
local n = tonumber(redis.call('HGET', KEYS[1], member)) or 0
local akey = base .. ':att:' .. member .. ':' .. n

local function reply(status)
  local out = {status, n, now, redis.call('HGET', base .. ':best', member) or ''}
  if n > 0 then
    local flat = redis.call('HGETALL', akey)
    for i = 1, #flat do out[#out + 1] = flat[i] end
  end
  return out
end

if n == 0 then return reply('no_attempt') end
local a = hgetall(akey)
if a.state ~= 'open' then return reply('attempt_closed') end

local pv, u = a.pv or '', a.u or ''
local bk = board_keys(base, KEYS[3], KEYS[4], KEYS[5], pv, u)
local started = tonumber(a.started)

if tonumber(a.deadline) < now then
  -- Overdue: close it at its deadline, exactly as attempt_expire.lua does.
  local k = {totals = KEYS[3], times = KEYS[4], lb = KEYS[5], done = KEYS[6],
    deadlines = KEYS[2]}
  expire_attempt(base, k, member, n, a, now)
  return reply('late')
end

if mode == 'predict' then
  if prediction ~= '' then redis.call('HSET', akey, 'prediction', prediction) end
  -- board_updates "attempt" (bu): the attempt's end refreshes the best attempt.
  if a.bu ~= 'attempt' then refresh_best(base, bk, member, pv, u) end
  return reply('predicted')
end

if prediction == '' and ARGV[5] == '1' and a.prediction == nil then
  return reply('prediction_required')
end
local fields = {'state', 'submitted', 'submitted', num(now), 'time_used', num(now - started)}
if prediction ~= '' then
  fields[#fields + 1] = 'prediction'
  fields[#fields + 1] = prediction
end
redis.call('HSET', akey, unpack(fields))
redis.call('ZREM', KEYS[2], member .. ':' .. n)
add_completed(base .. ':done', KEYS[6], member, u)
refresh_best(base, bk, member, pv, u)
audit_event(base .. ':audit', 'close', member, n, now - started, now, pv, u)
return reply('submitted')
