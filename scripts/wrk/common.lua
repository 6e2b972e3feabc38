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

-- Reads the file of ids named by COFFER_BENCH_IDS, one per line.
function bench.load_ids()
    local ids = {}
    for line in io.lines(os.getenv("COFFER_BENCH_IDS")) do
        ids[#ids + 1] = line
    end
    return ids
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
