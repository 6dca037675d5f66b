-- S6: GET /items/42?q=abc on the FastAPI app (app_fastapi.py), answered {"item_id":42,"q":"abc"}.
dofile((os.getenv("SF_LUA_DIR") or ".") .. "/common.lua")
wrk.path = "/items/42?q=abc"
