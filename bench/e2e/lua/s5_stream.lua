-- S5: GET /stream, answered in 10 body messages (chunked transfer coding).
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
wrk.path = "/stream"
