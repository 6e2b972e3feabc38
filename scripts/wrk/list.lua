-- Listing: GET …/secrets?limit=10 (the first page, as a dashboard or `coffer secrets list` asks for it).
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

function request()
    return wrk.format("GET", bench.secrets .. "?limit=10&offset=0", bench.headers)
end
