-- Tracking-link requests with realistic, varying sub ids (wrk -s bench/clicks.lua URL).
-- The URL given to wrk carries offer_id and aff_id; this adds aff_sub, aff_sub2 and source.
local counter = 0
local sources = {"facebook", "google", "tiktok", "native", "email"}
request = function()
  counter = counter + 1
  local path = wrk.path .. "&aff_sub=campaign_" .. (counter % 997) .. "&aff_sub2=ad_" .. (counter % 31)
    .. "&source=" .. sources[(counter % #sources) + 1]
  return wrk.format("GET", path)
end
