-- Audited secret reads: GET …/secrets/{id}/value over every seeded id, round robin, each thread from its own
-- starting point.
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

local ids, next_id
function init(args)
    ids = bench.load_ids()
    next_id = (thread_index or 1) * 7919 % ids.count
end

function request()
    next_id = next_id % ids.count + 1
    return wrk.format("GET", bench.secrets .. "/" .. ids:at(next_id) .. "/value", bench.headers)
end
