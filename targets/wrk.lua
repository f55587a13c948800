-- peakready's wrk script (targets/wrk.py runs it): the requests of a scenario, and a summary as one
-- JSON line. Every request says Host: localhost and Accept-Encoding: gzip, as a browser would.
--   wrk ... -s targets/wrk.lua URL -- BUDGET MODE [ARGS]
-- BUDGET: each thread stops sending after that many requests (the count bound; -d is the time one).
-- MODE:
--   get [NAME:VALUE...]              GET the URL's path, with these headers too
--   booking PREFIX TIME              POST /api/v1/bookings, each with its own Idempotency-Key
--   mix PREFIX TIME WRITE_PCT PATH   GET PATH, and WRITE_PCT percent bookings
--   users PREFIX TIME THINK_MS DAY   each connection a user of a restaurant's site under a spike:
--                                    a read of the menu, the outlets or the featured dishes (80 %),
--                                    an availability check for DAY (15 %) or a booking (5 %), then a
--                                    think time of THINK_MS on average (0.5 to 1.5 x) before the next
-- A booking's key (and name) is PREFIX-<thread>-<n>. In booking and mix modes every booking
-- acknowledged (200/201 with its key in the body) is written by done() to the file named by the
-- environment variable WRK_ACKED, one key a line.
-- Every 503 is checked for a Retry-After header: the summary counts those without one.

local threads = {}
local HEADERS = {["Host"] = "localhost", ["Accept-Encoding"] = "gzip"}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local function booking()
  n = n + 1
  local key = string.format("%s-%d-%d", prefix, id, n)
  local body = string.format(
    '{"outlet_id":%d,"name":"%s","phone":"+62 812 0000 %04d","party_size":2,"time":"%s"}',
    n % 12 + 1, key, n % 10000, when)
  return wrk.format("POST", "/api/v1/bookings", {
    ["Host"] = "localhost", ["Accept-Encoding"] = "gzip", ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key}, body)
end

-- A user's next click (users mode): mostly public reads, some availability checks, a few bookings.
local function user()
  local roll, outlet = math.random(100), math.random(12)
  local path
  if roll <= 55 then
    path = "/api/v1/menu?outlet=" .. outlet
  elseif roll <= 70 then
    path = (roll <= 62) and "/api/v1/outlets" or ("/api/v1/outlets/" .. outlet)
  elseif roll <= 80 then
    path = "/api/v1/menu/featured"
  elseif roll <= 95 then
    path = "/api/v1/outlets/" .. outlet .. "/availability?date=" .. day
  else
    return booking()
  end
  return wrk.format("GET", path, HEADERS)
end

-- The think time before a user's next request: init() names it wrk's delay() in users mode only
-- (wrk calls delay() after each answer when the script has one; the other modes send at once).
local function think()
  return math.floor(think_ms * (0.5 + math.random()))
end

function init(args)
  budget = tonumber(args[1])
  mode = args[2] or "get"
  statuses, acked, n, sent, no_retry_after = {}, {}, 0, 0, 0
  if mode == "get" then
    headers = {}
    for k, v in pairs(HEADERS) do headers[k] = v end
    for i = 3, #args do
      local name, value = string.match(args[i], "^([%w-]+):(.*)$")
      headers[name] = value
    end
  else
    prefix, when = args[3], args[4]
    write_pct = tonumber(args[5] or "100")
    read_path = args[6]
    if mode == "users" then
      think_ms, day, write_pct = tonumber(args[5]), args[6], 5
      math.randomseed(id)
      delay = think
    end
    ack_pattern = '"name":"(' .. string.gsub(prefix, "%p", "%%%0") .. '%-%d+%-%d+)"'
  end
end

function request()
  sent = sent + 1
  if sent >= budget then
    wrk.thread:stop()
  end
  if mode == "get" then
    return wrk.format("GET", nil, headers)
  end
  if mode == "users" then
    return user()
  end
  if mode == "booking" or math.random(100) <= write_pct then
    return booking()
  end
  return wrk.format("GET", read_path, HEADERS)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and not (headers["Retry-After"] or headers["retry-after"]) then
    no_retry_after = no_retry_after + 1
  end
  if mode ~= "get" and (status == 200 or status == 201) then
    local key = string.match(body, ack_pattern)
    if key then
      table.insert(acked, key)
    end
  end
end

function done(summary, latency, requests)
  local merged, keys, bare = {}, {}, 0
  for _, t in ipairs(threads) do
    bare = bare + t:get("no_retry_after")
    for status, count in pairs(t:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
    for _, key in ipairs(t:get("acked")) do
      table.insert(keys, key)
    end
  end
  local path = os.getenv("WRK_ACKED")
  if path then
    local f = assert(io.open(path, "w"))
    f:write(table.concat(keys, "\n"))
    f:close()
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"statuses":{%s},"acked":%d,"no_retry_after":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ","), #keys, bare))
end
