-- GET Customer 360 of random customers among the first CRM_RECORDS made by create_contacts.lua.
dofile(os.getenv("CRM_LOAD_DIR") .. "/common.lua")

request = function()
  local n = math.random(0, records - 1)
  return wrk.format("GET", "/v1/customers/" .. record_id(n), {
    ["Authorization"] = "Bearer " .. token,
  })
end
