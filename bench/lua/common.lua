-- Shared by telemetry.lua and influx.lua (loaded with dofile from the same folder).
--
-- Every thread counts the responses whose status is not `expected_status` (set by the
-- script's init); done() adds the threads' counts up and prints one line,
-- "BENCH_RESULT {json}", that bench/run.py reads. A run with any such response, or any
-- socket error or timeout, is a failed run.

local threads = {}
local next_id = 1

-- BENCH_PACE_MS (bench/run.py --pace-ms): each connection waits that long on average after
-- every answer, for a steady rate below the maximum. The wait is drawn uniformly from 0 to
-- twice that (whole ms, as wrk takes them): with a fixed wait the connections would stay in
-- step, and every request would arrive in a burst of all of them.
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "0") or 0
if pace_ms > 0 then
   function delay()
      return math.floor(math.random() * 2 * pace_ms + 0.5)
   end
end

expected_status = 200
responses = 0
unexpected = 0
unexpected_by_status = {}
first_unexpected = ""

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= expected_status then
      unexpected = unexpected + 1
      unexpected_by_status[status] = (unexpected_by_status[status] or 0) + 1
      if first_unexpected == "" then
         first_unexpected = tostring(status) .. " " .. string.sub(body or "", 1, 300)
      end
   end
end

-- A random float with 3 decimals, as text, between 0 and 100.
function random_value()
   return string.format("%.3f", math.random() * 100)
end

-- The lines of a text file, without blanks.
function read_lines(path)
   local lines = {}
   local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
   for line in file:lines() do
      if line ~= "" then
         table.insert(lines, line)
      end
   end
   file:close()
   assert(#lines > 0, "no lines in " .. path)
   return lines
end

local function json_string(text)
   text = string.gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. text .. '"'
end

function done(summary, latency, requests)
   local total_responses, total_unexpected = 0, 0
   local by_status = {}
   local first = ""
   for _, thread in ipairs(threads) do
      total_responses = total_responses + (thread:get("responses") or 0)
      total_unexpected = total_unexpected + (thread:get("unexpected") or 0)
      local counts = thread:get("unexpected_by_status") or {}
      for status, count in pairs(counts) do
         by_status[status] = (by_status[status] or 0) + count
      end
      if first == "" then
         first = thread:get("first_unexpected") or ""
      end
   end
   local statuses = {}
   for status, count in pairs(by_status) do
      table.insert(statuses, string.format('"%d":%d', status, count))
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"responses":%d,'
      .. '"unexpected":%d,"unexpected_by_status":{%s},"first_unexpected":%s,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.duration, summary.requests, summary.bytes, total_responses,
      total_unexpected, table.concat(statuses, ","), json_string(first),
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)))
end
