-- Secret creates: POST …/secrets with a name unique to the run, thread and request, and a 100-byte value.
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

local prefix, count
local value = string.rep("v", 100)
local headers = { ["Authorization"] = bench.headers["Authorization"], ["Content-Type"] = "application/json" }
function init(args)
    prefix = "BENCH_" .. os.getenv("COFFER_BENCH_RUN") .. "_T" .. tostring(thread_index or 1) .. "_"
    count = 0
end

function request()
    count = count + 1
    local body = '{"name": "' .. prefix .. count .. '", "value": "' .. value .. '", "secret_type": "api_key"}'
    return wrk.format("POST", bench.secrets, headers, body)
end
