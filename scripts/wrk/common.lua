-- Shared by Coffer's wrk scripts (scripts/bench sets the environment):
--   COFFER_BENCH_TOKEN  bearer token sent on every request
--   COFFER_BENCH_WS     workspace id
--   COFFER_BENCH_OUT    file that done() writes a JSON summary to (latencies in microseconds)
--   COFFER_BENCH_ADDRS  optional "host:port,host:port,…": thread n sends to address n (round robin), so one run
--                       loads several instances as a load balancer would
bench = {
    token = os.getenv("COFFER_BENCH_TOKEN"),
    ws = os.getenv("COFFER_BENCH_WS"),
}
bench.secrets = "/api/secrets/workspaces/" .. bench.ws .. "/secrets"
bench.headers = { ["Authorization"] = "Bearer " .. bench.token }

local threads = {}
local addrs = {}
for entry in string.gmatch(os.getenv("COFFER_BENCH_ADDRS") or "", "[^,]+") do
    local host, port = string.match(entry, "^(.+):(%d+)$")
    addrs[#addrs + 1] = wrk.lookup(host, port)[1]
end
function setup(thread)
    thread:set("thread_index", #threads + 1)
    if #addrs > 0 then
        thread.addr = addrs[#threads % #addrs + 1]
    end
    table.insert(threads, thread)
end

-- Reads the file of ids named by COFFER_BENCH_IDS, one per line, all of one length. `ids:next()` is the next id of
-- this thread's round robin over all of them, each thread from its own starting point. The ids stay in the file's
-- one string: a million ids held as a million Lua strings make every garbage-collection cycle of wrk's thread mark
-- them all in one step, a pause of tens of milliseconds that wrk adds to the latency of every request in flight,
-- though the server never sees it.
function bench.load_ids()
    local file = assert(io.open(os.getenv("COFFER_BENCH_IDS"), "rb"))
    local text = file:read("*a")
    file:close()
    local width = assert(string.find(text, "\n", 1, true), "no ids") - 1
    local stride = width + 1
    local uneven = "the ids are not all " .. width .. " characters long"
    assert(#text % stride == 0, uneven)
    for newline = stride, #text, stride do
        assert(string.byte(text, newline) == 10, uneven)
    end
    local count = #text / stride
    local position = (thread_index or 1) * 7919 % count
    return {
        next = function()
            position = position % count + 1
            local first = (position - 1) * stride + 1
            return string.sub(text, first, first + width - 1)
        end,
    }
end

function done(summary, latency, requests)
    local errors = summary.errors
    local out = io.open(os.getenv("COFFER_BENCH_OUT"), "w")
    out:write(string.format(
        '{"requests": %d, "duration_us": %d, "errors_connect": %d, "errors_read": %d, "errors_write": %d, '
            .. '"errors_status": %d, "errors_timeout": %d, "latency_p50_us": %d, "latency_p99_us": %d, '
            .. '"latency_max_us": %d, "latency_mean_us": %.1f}\n',
        summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
        errors.timeout, latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
    out:close()
end
