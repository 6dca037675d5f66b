-- S4: 16 pipelined GET / per write. As in wrk's scripts/pipeline.lua the request string is
-- wrk.format() output concatenated; wrk parses it once, counts 16 requests and waits for 16
-- responses (each counted as one request) before writing the next batch. Wrapping wrk.format
-- (called by wrk.init() once the Host header is known) keeps wrk on its static path.
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
local depth = tonumber(os.getenv("SF_PIPELINE") or "16")
local format = wrk.format
wrk.format = function(...)
   return string.rep(format(...), depth)
end
