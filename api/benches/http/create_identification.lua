-- wrk script: POST /api/v1/identifications, each request a new valid sighting of a child in
-- central Tirana with a fresh id and a fresh Idempotency-Key.
-- Usage: TOKEN=... wrk -t2 -c32 -d30s --latency -s api/benches/http/create_identification.lua http://127.0.0.1:18091
--
-- Ids are UUID-shaped: <run>-<thread>-7000-8000-<counter>, where <run> is the start time in
-- seconds, so that later runs against the same database never collide with earlier ones.
-- At the end the script prints how many answers were 201 and lists every other status with the
-- first body seen for it (wrk's own "Non-2xx or 3xx responses" line does not count a 200 replay).
local token = os.getenv("TOKEN")
if token == nil or token == "" then
  error("set TOKEN to an access token (see docs/benchmarks.md)")
end

local run = os.time()
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
  thread:set("run", run)
  table.insert(threads, thread)
end

local names = { "Ana", "Xhoni", "Endri", "Besa", "Klea", "Ardit" }
local seq = 0
local observed_at
status_counts = {} -- globals, so that done() can read them with thread:get
first_body = {}

function init(args)
  math.randomseed(thread_no * 7919 + run)
  observed_at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 600)
  wrk.method = "POST"
  wrk.path = "/api/v1/identifications"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

local body_format = [[{"id":"%s","observed_at":"%s",]]
  .. [["location":{"lat":%.6f,"lon":%.6f,"accuracy_m":%.1f,"source":"gps","mock_location":false},]]
  .. [["place_description":"traffic lights","subject_type":"child","estimated_age":%d,"sex":"%s",]]
  .. [["nationality":"AL","languages":["sq"],"residence_origin":"other_municipality",]]
  .. [["street_situations":["selling_items"],"accompanied_by":"other_adult",]]
  .. [["risk_factors":["school_dropout"],"exploitation_indicators":["forced_begging"],]]
  .. [["visible_conditions":["exposure"],"immediate_needs":["food"],]]
  .. [["actions_taken":["food_or_water_given","information_given"],"consent_given_by":"child",]]
  .. [["risk_level":"medium","emergency":false%s}]]

function request()
  seq = seq + 1
  local id = string.format("%08x-%04x-7000-8000-%012x", run, thread_no, seq)
  local lat = 41.30 + math.random() * 0.05
  local lon = 19.78 + math.random() * 0.07
  local accuracy = 5 + math.random() * 25
  local age = math.random(5, 15)
  local sex = (seq % 2 == 0) and "female" or "male"
  local name = ""
  if seq % 3 == 0 then
    name = string.format([[,"name_as_told":"%s"]], names[math.random(#names)])
  end
  local body = string.format(body_format, id, observed_at, lat, lon, accuracy, age, sex, name)
  wrk.headers["Idempotency-Key"] = "bench-" .. id
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  status_counts[status] = (status_counts[status] or 0) + 1
  if status ~= 201 and first_body[status] == nil then
    first_body[status] = body
  end
end

function done(summary, latency, requests)
  local totals, bodies = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("status_counts")) do
      totals[status] = (totals[status] or 0) + n
    end
    for status, body in pairs(thread:get("first_body")) do
      bodies[status] = bodies[status] or body
    end
  end
  local created, other = totals[201] or 0, 0
  for status, n in pairs(totals) do
    if status ~= 201 then
      other = other + n
    end
  end
  io.write(string.format("201 Created: %d; other statuses: %d\n", created, other))
  for status, n in pairs(totals) do
    if status ~= 201 then
      io.write(string.format("  %d x %d, first body: %s\n", n, status, string.sub(bodies[status] or "", 1, 600)))
    end
  end
end
