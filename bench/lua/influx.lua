-- wrk script: POST /write?db=DB to InfluxDB 1.x, line protocol, a random device per request.
--
--   wrk -t2 -c64 -d15s -s bench/lua/influx.lua http://127.0.0.1:PORT -- DEVICES [SAMPLES] [DB]
--
-- SAMPLES (default 1) lines per request, all for the one device picked for the request:
-- 1 sends "temperature,device=dN value=<float>"; N > 1 sends N lines
-- "k<i>,device=dN value=<float>" (i = 0..N-1), i.e. the same N series per device as the
-- thingport batch scenario stores (one series per device and key). No timestamps: InfluxDB
-- stamps the points with its clock, as thingport does. Expects 204 for every request.

local here = string.match(debug.getinfo(1, "S").source, "^@(.*[/\\])") or "./"
dofile(here .. "common.lua")

local devices = 1
local samples = 1
local path = "/write?db=bench"
local headers = { ["Content-Type"] = "text/plain; charset=utf-8" }

function init(args)
   expected_status = 204
   assert(args[1], "usage: -- DEVICES [SAMPLES] [DB]")
   devices = tonumber(args[1])
   samples = tonumber(args[2] or "1")
   path = "/write?db=" .. (args[3] or "bench")
   math.randomseed(os.time() * 1000 + (id or 0))
end

function request()
   local device = "d" .. math.random(devices)
   local body
   if samples == 1 then
      body = "temperature,device=" .. device .. " value=" .. random_value()
   else
      local parts = {}
      local tag = ",device=" .. device .. " value="
      for i = 1, samples do
         parts[i] = "k" .. (i - 1) .. tag .. random_value()
      end
      body = table.concat(parts, "\n")
   end
   return wrk.format("POST", path, headers, body)
end
