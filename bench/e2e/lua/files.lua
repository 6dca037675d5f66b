-- Files: GET of the path in SF_FILE_PATH (bench/e2e/files.py), keep-alive.
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
wrk.path = os.getenv("SF_FILE_PATH") or "/"
