-- A mixed load for scripts/soak: of every 20 requests, 12 audited value reads, 3 lists of 10, 2 creates,
-- 2 rotations (a new version of a seeded secret) and 1 delete of a secret this thread created.
-- COFFER_SOAK_DELAY_MS (optional): the pause before each request on a connection, which paces the load;
-- 0 or unset runs as fast as the server answers.
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

local ids, prefix, count, created
local delay_ms = tonumber(os.getenv("COFFER_SOAK_DELAY_MS") or "0")
local value = string.rep("v", 100)
local json_headers = { ["Authorization"] = bench.headers["Authorization"], ["Content-Type"] = "application/json" }

function init(args)
    ids = bench.load_ids()
    prefix = "SOAK_" .. os.getenv("COFFER_BENCH_RUN") .. "_T" .. tostring(thread_index or 1) .. "_"
    count = 0
    created = {}
end

function delay()
    return delay_ms
end

function request()
    count = count + 1
    local slot = count % 20
    if slot < 12 then
        return wrk.format("GET", bench.secrets .. "/" .. ids:next() .. "/value", bench.headers)
    elseif slot < 15 then
        return wrk.format("GET", bench.secrets .. "?limit=10&offset=" .. (count % 50) * 10, bench.headers)
    elseif slot < 17 then
        local body = '{"name": "' .. prefix .. count .. '", "value": "' .. value .. '"}'
        return wrk.format("POST", bench.secrets, json_headers, body)
    elseif slot < 19 then
        local body = '{"new_value": "rotated-' .. count .. '"}'
        return wrk.format("POST", bench.secrets .. "/" .. ids:next() .. "/rotate", json_headers, body)
    elseif #created > 0 then
        return wrk.format("DELETE", bench.secrets .. "/" .. table.remove(created, 1), bench.headers)
    else
        return wrk.format("GET", bench.secrets .. "/" .. ids:next() .. "/value", bench.headers)
    end
end

-- Only a create answers 201 (a thread's connections interleave, so the request is not known here).
function response(status, headers, body)
    if status == 201 then
        local id = string.match(body, '"id"%s*:%s*"([^"]+)"')
        if id then created[#created + 1] = id end
    end
end
