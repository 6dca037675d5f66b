-- Soak (bench/soak.py): one kind of request per wrk process, chosen by SF_SOAK_KIND, built once
-- by wrk.format() (called by wrk.init()), so wrk stays on its static path (no Lua per request).
--   get       GET / (keep-alive)              browser   the 717-byte request of SF_S2_FILE
--   post      POST /upload, 4 KiB, Content-Length
--   chunked   POST /upload, 4 KiB in two chunks (Transfer-Encoding: chunked)
--   pipeline  SF_PIPELINE x GET / per write   stream    GET /stream (chunked answer)
--   missing   GET /missing (404)              close     GET / with Connection: close: a new
--                                                       connection for every request
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
local kind = os.getenv("SF_SOAK_KIND") or "get"
local format = wrk.format
local body = string.rep("x", 4096)

if kind == "browser" then
   local f = assert(io.open(os.getenv("SF_S2_FILE"), "rb"))
   local raw = f:read("*a")
   f:close()
   wrk.format = function() return raw end
elseif kind == "post" then
   wrk.format = function()
      return format("POST", "/upload", {["Content-Type"] = "application/octet-stream"}, body)
   end
elseif kind == "chunked" then
   wrk.format = function()
      local half = string.rep("x", 2048)
      return "POST /upload HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n" ..
         "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n" ..
         "800\r\n" .. half .. "\r\n800;soak=1\r\n" .. half .. "\r\n0\r\n\r\n"
   end
elseif kind == "pipeline" then
   local depth = tonumber(os.getenv("SF_PIPELINE") or "16")
   wrk.format = function() return string.rep(format("GET", "/"), depth) end
elseif kind == "stream" then
   wrk.format = function() return format("GET", "/stream") end
elseif kind == "missing" then
   wrk.format = function() return format("GET", "/missing/soak") end
elseif kind == "close" then
   wrk.format = function() return format("GET", "/", {["Connection"] = "close"}) end
elseif kind ~= "get" then
   error("SF_SOAK_KIND: unknown kind " .. kind)
end
