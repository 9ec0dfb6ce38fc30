-- Webhook intake in bulk: batches of 100 deliveries, each with an external id never sent before.
dofile(os.getenv("CRM_LOAD_DIR") .. "/common.lua")

request = function()
  local n = next_number(tonumber(os.getenv("CRM_THREADS") or "4"))
  local parts = {}
  for i = 0, 99 do
    parts[#parts + 1] = string.format(
      '{"external_id":"load-%d-%d","payload":{"email":"lead%d.%d@load.example","first_name":"Lead","last_name":"Number%d"}}',
      n, i, n, i, i)
  end
  return wrk.format("POST", "/v1/intake/load/leads/batch", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"deliveries":[' .. table.concat(parts, ",") .. ']}')
end
