-- Advertiser postbacks: one per recorded click, from the file in BENCH_TIDS (one id per line),
-- with an amount and an order id. Run with one wrk thread (-t1): each thread would replay the list.
local tids = {}
local next_index = 1
local token = os.getenv("BENCH_TOKEN") or ""
local file = os.getenv("BENCH_TIDS")
for line in io.lines(file) do tids[#tids + 1] = line end
request = function()
  local tid = tids[next_index]
  if tid == nil then
    tid = "00000000000000000000000000000000" -- exhausted: refused fast (unknown transaction)
  end
  next_index = next_index + 1
  return wrk.format("GET", "/aff_lsr?transaction_id=" .. tid .. "&amount=19.99&adv_sub=order-" .. tid
    .. "&security_token=" .. token)
end
