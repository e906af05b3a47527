-- wrk script: a live save of the Application (Client) ID, alternating two values so that
-- every request stores a change (and its audit record), as an admin typing would.
local path = os.getenv("BENCH_PATH")
local token = os.getenv("BENCH_CSRF")
local cookie = os.getenv("BENCH_COOKIE")
local user_agent = os.getenv("BENCH_USER_AGENT")
local values = { "0d6c3b8e-4a1f-4f2b-8e7d-9b5a1c3e6f20", "1d6c3b8e-4a1f-4f2b-8e7d-9b5a1c3e6f21" }
local counter = 0

request = function()
  counter = counter + 1
  local body = "client_id=" .. values[(counter % 2) + 1]
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["HX-Request"] = "true",
    ["X-CSRFToken"] = token,
    ["Cookie"] = cookie,
    ["User-Agent"] = user_agent,
  }
  return wrk.format("POST", path, headers, body)
end
