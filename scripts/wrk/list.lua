-- Listing: GET …/secrets?limit=10 (the first page, as a dashboard or `coffer secrets list` asks for it).
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

-- The same request every time: formatted once per thread.
local page
function init(args)
    page = wrk.format("GET", bench.secrets .. "?limit=10&offset=0", bench.headers)
end

function request()
    return page
end
