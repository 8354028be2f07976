-- wrk script: GET /api/v1/areas/locate at pseudo-random points over Albania's bounding box.
-- Usage: TOKEN=... wrk -t2 -c32 -d30s --latency -s api/benches/http/locate.lua http://127.0.0.1:18090
local token = os.getenv("TOKEN")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(seed * 7919)
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  local lat = 39.6 + math.random() * 3.1
  local lon = 19.2 + math.random() * 1.9
  return wrk.format("GET", string.format("/api/v1/areas/locate?lat=%.5f&lon=%.5f", lat, lon))
end
