-- S3: POST /upload with a 4 KiB body that the app reads fully, answering "4096".
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
wrk.method = "POST"
wrk.path = "/upload"
wrk.body = string.rep("x", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
