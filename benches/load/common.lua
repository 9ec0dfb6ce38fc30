-- Shared by the load scripts: each wrk thread gets a number, and ids are made from a counter so
-- that a later run can name the records an earlier one made.
local threads = {}
counter = 0

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("CRM_TOKEN")
  first = tonumber(os.getenv("CRM_FIRST") or "0")
  records = tonumber(os.getenv("CRM_RECORDS") or "1000")
  counter = 0
  math.randomseed(os.time() + thread_id * 7919)
end

-- The id of record n: a valid UUIDv7-shaped value.
function record_id(n)
  return string.format("00000000-0000-7000-8000-%012x", n)
end

-- The next record of this thread (threads interleave: thread t makes t, t+T, t+2T, ...).
function next_number(thread_count)
  local n = first + thread_id + counter * thread_count
  counter = counter + 1
  return n
end

-- After a creating run: how many records 0..n-1 all exist (every thread made at least
-- n / T of its own), written to CRM_RECORDS_FILE.
function done(summary, latency, requests)
  local path = os.getenv("CRM_RECORDS_FILE")
  if path == nil then
    return
  end
  local least = nil
  for _, thread in ipairs(threads) do
    local made = thread:get("counter")
    if least == nil or made < least then
      least = made
    end
  end
  local file = io.open(path, "w")
  file:write(tostring((least or 0) * #threads))
  file:close()
end
