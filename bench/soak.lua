-- A mixed read load for bench/soak.sh (wrk). Environment:
--   KEY       API key (Authorization: Bearer)
--   ORG       organization key (default "default")
--   DATASETS  comma-separated name/version pairs, e.g. "qa/1.0.0,small/0.1.0"
--   LINKS     file with one signed /files/... path per line (from download POSTs)
--   MIX       route weights, e.g. "list=20,facets=20,detail=20,preview=15,download=10,file=15";
--             a route left out or given 0 is not requested
-- done() prints one line: "SOAK requests=N seconds=S rps=R p99_ms=P bad=B sockerr=E".

local key = os.getenv("KEY") or ""
local org = os.getenv("ORG") or "default"
local auth = { ["Authorization"] = "Bearer " .. key }
local json_auth = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }

local datasets = {}
for item in string.gmatch(os.getenv("DATASETS") or "", "[^,]+") do
  local name, version = string.match(item, "^%s*([^/]+)/([^/%s]+)%s*$")
  if name then table.insert(datasets, { name = name, version = version }) end
end

local links = {}
local links_file = os.getenv("LINKS")
if links_file then
  local f = io.open(links_file, "r")
  if f then
    for line in f:lines() do
      if line ~= "" then table.insert(links, line) end
    end
    f:close()
  end
end

local weights = { list = 20, facets = 20, detail = 20, preview = 15, download = 10, file = 15 }
local mix = os.getenv("MIX")
if mix and mix ~= "" then
  for k in pairs(weights) do weights[k] = 0 end
  for k, v in string.gmatch(mix, "(%w+)=(%d+)") do weights[k] = tonumber(v) end
end
if #links == 0 then weights.file = 0 end
if #datasets == 0 then
  weights.detail, weights.preview, weights.download = 0, 0, 0
end

local routes, total = {}, 0
for _, k in ipairs({ "list", "facets", "detail", "preview", "download", "file" }) do
  if (weights[k] or 0) > 0 then
    total = total + weights[k]
    table.insert(routes, { name = k, upto = total })
  end
end

local n = 0
local base = "/api/v1/org/" .. org .. "/datasets"
local sorts = { "name", "created_at", "updated_at", "row_count", "file_size_bytes" }
local limits = { 10, 20, 50, 100 }
local filters = { "", "", "&include_public=true", "&search=a", "&search=e&include_public=true",
  "&tags=nlp", "&tags=qa&include_public=true", "&format=parquet", "&format=csv&include_public=true" }
local facet_queries = { "", "?include_public=true", "?format=parquet", "?tags=nlp&include_public=true" }

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

local function pick(t)
  return t[math.random(#t)]
end

function request()
  n = n + 1
  if total == 0 then return wrk.format("GET", "/api/v1/health") end
  local r = math.random(total)
  local route
  for _, x in ipairs(routes) do
    if r <= x.upto then route = x.name break end
  end
  if route == "list" then
    -- Varied pages, sizes, orders and filters, as browsing clients send them.
    local q = string.format("?sort_by=%s&sort_dir=%s&limit=%d&page=%d%s", pick(sorts),
      pick({ "asc", "desc" }), pick(limits), math.random(1, 4), pick(filters))
    return wrk.format("GET", base .. q, auth)
  elseif route == "facets" then
    return wrk.format("GET", base .. "/facets" .. pick(facet_queries), auth)
  elseif route == "file" then
    return wrk.format("GET", pick(links))
  end
  local d = pick(datasets)
  local path = base .. "/" .. d.name .. "/" .. d.version
  if route == "detail" then
    return wrk.format("GET", path, auth)
  elseif route == "preview" then
    return wrk.format("GET", path .. "/preview?limit=" .. math.random(1, 100), auth)
  else
    return wrk.format("POST", path .. "/download", json_auth, "{}")
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("SOAK requests=%d seconds=%.1f rps=%.1f p99_ms=%.2f bad=%d sockerr=%d\n",
    summary.requests, secs, summary.requests / secs, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
