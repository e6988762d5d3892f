-- wrk script for bench/run. Always prints one machine-readable line at the end (BENCHJSON {...}).
-- With BENCH_TOKENS set (a file of bearer tokens, one a line) it POSTs BENCH_BODY as JSON with a
-- different user's token on every request, each wrk thread walking its own stride of the file.

local tokens_file = os.getenv("BENCH_TOKENS")
local thread_count = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local next_id = 0

function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
end

if tokens_file then
    local tokens = {}
    for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
    local body = os.getenv("BENCH_BODY")
    local n = 0
    request = function()
        local index = (offset + n * thread_count + (tid or 0)) % #tokens + 1
        n = n + 1
        return wrk.format("POST", wrk.path,
            { ["Authorization"] = "Bearer " .. tokens[index], ["Content-Type"] = "application/json" }, body)
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,'
            .. '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,'
            .. '"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
