-- final_write.lua: write one chunk of final standings (or rows) in a single call.
--
-- KEYS[1]  the key to write (P:{C}:final:order:tmp or P:{C}:final:tmp)
-- ARGV[1]  command: "ZADD" (pairs rank, member) or "HSET" (pairs member, row)
-- ARGV[2]  a MessagePack array: the flat pairs
--
-- One MessagePack argument instead of two arguments per member: the client packs a
-- million pairs in a fraction of a second (msgspec), where redis-py would spend seconds
-- encoding two million separate arguments. Returns the number of pairs written.

local flat = cmsgpack.unpack(ARGV[2])
local cmd, key, n = ARGV[1], KEYS[1], #flat
local step = 4000
for i = 1, n, step do
  local j = i + step - 1
  if j > n then j = n end
  redis.call(cmd, key, unpack(flat, i, j))
end
return n / 2
