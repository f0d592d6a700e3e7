-- wrk script: POST the bodies of a file (one JSON body per line) in turn, count the answers
-- holding each given substring, and print one JSON line ("JSON {...}") at the end. A NAME
-- starting with "#" counts every occurrence of its substring instead ("occurrences").
-- usage: wrk -t1 -c32 -d10s --latency -s cycle.lua URL -- BODIES_FILE [NAME NEEDLE]...

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
  -- done() runs in another Lua state and can only read plain globals of each thread
  needles = {}
  for k = 2, #args - 1, 2 do
    needles[#needles + 1] = args[k + 1]
    _G["name" .. #needles] = args[k]
    _G["count" .. #needles] = 0
  end
  non2xx = 0
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
    return
  end
  for k = 1, #needles do
    if _G["name" .. k]:sub(1, 1) == "#" then
      local at = body:find(needles[k], 1, true)
      while at do
        _G["count" .. k] = _G["count" .. k] + 1
        at = body:find(needles[k], at + #needles[k], true)
      end
    elseif body:find(needles[k], 1, true) then
      _G["count" .. k] = _G["count" .. k] + 1
    end
  end
end

function done(summary, latency, requests)
  local names, every, n = {}, {}, 0
  for _, t in ipairs(threads) do n = n + t:get("non2xx") end
  local k = 1
  while threads[1]:get("name" .. k) do
    local total = 0
    for _, t in ipairs(threads) do total = total + t:get("count" .. k) end
    local name = threads[1]:get("name" .. k)
    if name:sub(1, 1) == "#" then
      every[#every + 1] = string.format('"%s": %d', name:sub(2), total)
    else
      names[#names + 1] = string.format('"%s": %d', name, total)
    end
    k = k + 1
  end
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_s": %.3f, "rps": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, ' ..
    '"matches": {%s}, "occurrences": {%s}, "non2xx": %d, ' ..
    '"latency_ms": {"mean": %.4f, "p50": %.4f, "p90": %.4f, "p99": %.4f, "p999": %.4f, "max": %.4f}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.timeout, e.status, table.concat(names, ", "), table.concat(every, ", "), n,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
