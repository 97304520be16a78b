-- final_swap.lua: the atomic steps of finalize (one script, so it runs on Redis Cluster,
-- where redis-py refuses RENAME and COPY in pipelines).
--
-- mode "copy":   KEYS[1] source (P:{C}:best), KEYS[2] target (P:{C}:final:tmp)
--                the target becomes a copy of the source (deleted if there is none)
-- mode "swap":   KEYS[1] P:{C}:final:tmp      KEYS[2] P:{C}:final
--                KEYS[3] P:{C}:final:order:tmp KEYS[4] P:{C}:final:order
--                KEYS[5] P:{C}:final:info
--                the temporary keys are renamed into place (or, with nothing ranked, all
--                four are deleted) and the info is stored, in one step
-- ARGV[1]  mode
-- ARGV[2]  (swap) the info JSON
-- ARGV[3]  (swap) "1" if anything was ranked
-- Returns 1.
--
-- The standings they replace are UNLINKed first (freed by Redis's background thread),
-- not deleted by RENAME or DEL in the script: a re-finalize of 5,000,000 members would
-- otherwise hold Redis for the seconds it takes to free the old 5,000,000-field hash and
-- zset.

local mode = ARGV[1]
if mode == 'copy' then
  redis.call('UNLINK', KEYS[2])
  redis.call('COPY', KEYS[1], KEYS[2])
  return 1
end
if ARGV[3] == '1' then
  redis.call('UNLINK', KEYS[2], KEYS[4])
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('RENAME', KEYS[3], KEYS[4])
else
  redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
redis.call('SET', KEYS[5], ARGV[2])
return 1
