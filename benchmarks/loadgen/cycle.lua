-- wrk script: POST the bodies of a file (one JSON body per line) in turn, count the
-- decisions' actions, and print one JSON line ("JSON {...}") at the end.
-- usage: wrk -t1 -c32 -d10s --latency -s cycle.lua URL -- BODIES_FILE

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  i = 0
  contacts, waits, non2xx = 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif body:find('"action":"contact"', 1, true) then
    contacts = contacts + 1
  elseif body:find('"action":"wait"', 1, true) then
    waits = waits + 1
  end
end

function done(summary, latency, requests)
  local c, w, n = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("contacts")
    w = w + t:get("waits")
    n = n + t:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_s": %.3f, "rps": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, ' ..
    '"matches": {"contact": %d, "wait": %d}, "non2xx": %d, ' ..
    '"latency_ms": {"mean": %.4f, "p50": %.4f, "p90": %.4f, "p99": %.4f, "p999": %.4f, "max": %.4f}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.timeout, e.status, c, w, n,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
