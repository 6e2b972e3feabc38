-- Transit encrypt or decrypt through the Vault-compatible API: POST /v1/<workspace>/transit/<op>/bench with one
-- item, or with `batch_input` of COFFER_BENCH_BATCH items (the body is built once).
--   COFFER_BENCH_OP          encrypt | decrypt
--   COFFER_BENCH_BATCH       1 (a single item) or the batch size
--   COFFER_BENCH_CIPHERTEXT  for decrypt: a ciphertext of the 32-byte plaintext, made by scripts/bench
dofile(os.getenv("COFFER_WRK_DIR") .. "/common.lua")

local op = os.getenv("COFFER_BENCH_OP")
local size = tonumber(os.getenv("COFFER_BENCH_BATCH"))
local path = "/v1/" .. bench.ws .. "/transit/" .. op .. "/bench"
local headers = { ["X-Vault-Token"] = bench.token, ["Content-Type"] = "application/json" }
-- 32 bytes of plaintext, base64.
local item = op == "encrypt" and '{"plaintext": "Y29mZmVyLXRyYW5zaXQtYmVuY2htYXJrLTMyLWJ5dGU="}'
    or '{"ciphertext": "' .. os.getenv("COFFER_BENCH_CIPHERTEXT") .. '"}'
local body
if size == 1 then
    body = item
else
    local items = {}
    for i = 1, size do items[i] = item end
    body = '{"batch_input": [' .. table.concat(items, ",") .. "]}"
end

function request()
    return wrk.format("POST", path, headers, body)
end
