-- POST commands on distinct aggregates: each request creates a new contact.
dofile(os.getenv("CRM_LOAD_DIR") .. "/common.lua")

request = function()
  local n = next_number(tonumber(os.getenv("CRM_THREADS") or "4"))
  local body = string.format(
    '{"command":"create","given_name":"Person%d","family_name":"Load","primary_email":"p%d@load.example","country":"GB"}',
    n, n)
  return wrk.format("POST", "/v1/contacts/" .. record_id(n) .. "/commands", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
