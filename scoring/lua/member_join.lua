-- member_join.lua: what a gateway writes and reads when a member joins a contest.
--
-- KEYS[1]  P:{C}:profiles      member -> JSON profile (name, province, unit)
-- KEYS[2]  P:{C}:attn          member -> number of window attempts started
-- ARGV[1]  member
-- ARGV[2]  profile             JSON profile to store
--
-- The member's profile is stored (the boards and results show it), and the number of
-- attempts they have started is read (0 if none: the welcome says so, and a member with
-- none has nothing to resume). One script call, so that the gateway sends it in the same
-- batch as other members' answers and starts (scoring/batcher.py) rather than as a
-- pipeline of its own.
-- Returns the attempt count (0 if none).

redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0
