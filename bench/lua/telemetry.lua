-- wrk script: POST /api/v1/{token}/telemetry with a random device token per request.
--
--   wrk -t2 -c64 -d15s -s bench/lua/telemetry.lua http://127.0.0.1:PORT -- TOKENS_FILE [SAMPLES]
--
-- TOKENS_FILE holds one device access token a line. SAMPLES (default 1) is the number of
-- samples per request: 1 sends {"temperature":<float>}; N > 1 sends one flat object with N keys
-- {"k0":<float>,...,"k<N-1>":<float>}, which the server stores as N time-series entries sharing
-- the server's timestamp. Expects 200 for every request.

local here = string.match(debug.getinfo(1, "S").source, "^@(.*[/\\])") or "./"
dofile(here .. "common.lua")

local tokens = nil
local samples = 1
local key_parts = {}
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   expected_status = 200
   tokens = read_lines(assert(args[1], "usage: -- TOKENS_FILE [SAMPLES]"))
   samples = tonumber(args[2] or "1")
   math.randomseed(os.time() * 1000 + (id or 0))
   for i = 1, samples do
      key_parts[i] = (i == 1 and '{"k' or ',"k') .. (i - 1) .. '":'
   end
end

function request()
   local token = tokens[math.random(#tokens)]
   local body
   if samples == 1 then
      body = '{"temperature":' .. random_value() .. "}"
   else
      local parts = {}
      for i = 1, samples do
         parts[2 * i - 1] = key_parts[i]
         parts[2 * i] = random_value()
      end
      parts[2 * samples + 1] = "}"
      body = table.concat(parts)
   end
   return wrk.format("POST", "/api/v1/" .. token .. "/telemetry", headers, body)
end
