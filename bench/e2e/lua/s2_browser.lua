-- S2: the 717-byte browser request, byte for byte as in bench/s2_browser.http (method, path,
-- header order and case). wrk.init() builds the request once with wrk.format(); returning the
-- file's bytes from it keeps wrk on its static (pre-formatted) path, so no Lua runs per request.
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
local path = os.getenv("SF_S2_FILE") or "../../s2_browser.http"
local f = assert(io.open(path, "rb"))
local raw = f:read("*a")
f:close()
wrk.format = function() return raw end
