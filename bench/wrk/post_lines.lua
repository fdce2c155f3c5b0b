-- POST one JSON body per request, taken in turn from the file named by BENCH_BODIES
-- (one body per line). Each wrk thread starts at its own offset and strides by the
-- number of threads, so no two threads send the same body at the same moment.
local bodies = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    bodies[#bodies + 1] = line
  end
  i = 0
  stride = tonumber(os.getenv("BENCH_THREADS") or "1")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  i = i + 1
  local body = bodies[((i * stride + tid) % #bodies) + 1]
  return wrk.format(nil, nil, nil, body)
end
