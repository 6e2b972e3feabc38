-- Audited secret reads: GET …/secrets/{id}/value over every seeded id, round robin, each thread from its own
-- starting point.
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

local ids
function init(args)
    ids = bench.load_ids()
end

function request()
    return wrk.format("GET", bench.secrets .. "/" .. ids:next() .. "/value", bench.headers)
end
