-- S1: GET / (wrk's own minimal request: method, path, Host), answered "Hello, world!".
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
