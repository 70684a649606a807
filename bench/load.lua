-- wrk script of bench/run.py: unique requests, every response checked.
--
-- wrk -s bench/load.lua URL -- MODE FILE PREFIX THREADS METHOD [HEADER ...]
--   MODE template: FILE holds one body; each "{n}" in it becomes PREFIX-<thread>-<counter>,
--                  so every request carries its own event id and email.
--   MODE file:     FILE holds one prepared request per line, "PATH<TAB>BODY"; thread k of
--                  THREADS takes lines k, k+THREADS, ... once each and stops when they run out
--                  (a survey link can be answered once).
-- A response counts as a failure when its status is not 2xx or its body holds a fault
-- (a SOAP Fault travels with HTTP 500, an XML-RPC one with HTTP 200).
-- done() prints one line of JSON for the harness.

-- Globals, not locals: done() reads them from each thread with thread:get().
failures, successes, exhausted, sample = 0, 0, 0, ""
local threads = {}
local counter = 0
local lines = {}
local next_line = 1
local mode, template, prefix, method, headers

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local function read_file(path)
  local handle = assert(io.open(path, "rb"))
  local data = handle:read("*a")
  handle:close()
  return data
end

function init(args)
  mode, prefix, method = args[1], args[3], args[5]
  local nthreads = tonumber(args[4])
  headers = {}
  for i = 6, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  if mode == "template" then
    template = read_file(args[2])
  else
    local index = 0
    for line in io.lines(args[2]) do
      if index % nthreads == id - 1 then
        local path, body = line:match("^([^\t]*)\t(.*)$")
        table.insert(lines, {path, body})
      end
      index = index + 1
    end
  end
end

function request()
  if mode == "template" then
    counter = counter + 1
    local unique = prefix .. "-" .. id .. "-" .. counter
    local body = template:gsub("{n}", unique)
    if method == "GET" then body = nil end
    return wrk.format(method, nil, headers, body)
  end
  if next_line > #lines then
    -- Out of prepared requests: stop this thread; anything still in flight is not counted.
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  local line = lines[next_line]
  next_line = next_line + 1
  return wrk.format(method, line[1], headers, line[2])
end

function response(status, _, body)
  if exhausted == 1 then return end
  if status < 200 or status > 299 or body:find("Fault", 1, true)
      or body:find("<fault>", 1, true) then
    failures = failures + 1
    if sample == "" then sample = status .. " " .. body:sub(1, 300) end
  else
    successes = successes + 1
  end
end

function done(summary, latency, _)
  local failed, succeeded, stopped, first = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
    succeeded = succeeded + thread:get("successes")
    stopped = stopped + thread:get("exhausted")
    if first == "" then first = thread:get("sample") end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "successes": %d, "failures": %d, "exhausted": %d, ' ..
    '"socket_errors": %d, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "sample": "%s"}\n',
    summary.requests, summary.duration / 1e6, succeeded, failed, stopped,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    (first:gsub("[%c\"\\]", " "))))
end
