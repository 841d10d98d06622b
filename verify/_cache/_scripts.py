"""The Lua scripts of the Redis backend (verify/_cache/_redis.py describes them).

Key names, built inside the scripts from the prefix: ``j:{invoice}`` the cached
value (a 16-character tag, then the msgpack summary; ``-`` for an invoice the
registry does not hold), ``n:{invoice}:{day}`` today's counter, ``r:{ip}:{minute}``
an IP's budget, ``b:{operation}`` what an operation counted (or ``x``: settled).

``PROBE`` items are ``key TAB ip TAB tag NEWLINE``: ``tag`` is the tag of the value
the caller already holds for that invoice ('' for none). When Redis holds that same
value the item answers state 3 and the value is not sent again; otherwise it is.
"""

from __future__ import annotations

PROBE = r"""
local limit = tonumber(ARGV[1])
local exp = tonumber(ARGV[2])
local iplim = tonumber(ARGV[3])
local p = ARGV[4]
local day = ARGV[5]
local minute = ARGV[6]
local bk = p .. 'b:' .. ARGV[8]
if redis.call('EXISTS', bk) == 1 then return {} end  -- settled by its sender: never apply
if ARGV[9] ~= '' then  -- records of operations whose replies arrived
  local acked = {}
  for id in string.gmatch(ARGV[9], '[^ ]+') do acked[#acked + 1] = p .. 'b:' .. id end
  redis.call('DEL', unpack(acked))
end
local done = {}  -- what this batch counts, to take back if its reply is lost
local keys, tags, ips, per, n = {}, {}, {}, {}, 0
for key, ip, tag in string.gmatch(ARGV[7], '([^\t\n]*)\t([^\t\n]*)\t([^\n]*)\n') do
  n = n + 1
  keys[n] = key
  tags[n] = tag
  if iplim > 0 and ip ~= '' then
    ips[n] = ip
    per[ip] = (per[ip] or 0) + 1
  end
end
-- One INCRBY per distinct IP; its k-th item sees base + k, as if each had INCR'd in turn.
local ipc_of = {}
for ip, c in pairs(per) do
  local rk = p .. 'r:' .. ip .. ':' .. minute
  local total = redis.call('INCRBY', rk, c)
  if total == c then redis.call('EXPIRE', rk, 61) end
  ipc_of[ip] = total - c
  done[#done + 1] = rk .. '\t' .. c .. '\n'
end
local out = {}
for i = 1, n do
  local ipc = 0
  local ip = ips[i]
  if ip then
    ipc = ipc_of[ip] + 1
    ipc_of[ip] = ipc
  end
  local o = 4 * i - 4
  out[o + 2] = ipc
  out[o + 3] = 0
  out[o + 4] = false
  local key = keys[i]
  if iplim > 0 and ipc > iplim then
    out[o + 1] = -1
  elseif key == '' then
    out[o + 1] = 0
  else
    local ik = p .. 'j:' .. key
    local t = redis.call('GETRANGE', ik, 0, 15)  -- the value's tag ('' when absent)
    if t == '' then
      out[o + 1] = 0
    elseif t == '-' then
      out[o + 1] = 2
    else
      local ck = p .. 'n:' .. key .. ':' .. day
      local c = redis.call('INCR', ck)
      if c == 1 then redis.call('EXPIREAT', ck, exp) end
      if c > limit then
        redis.call('DECR', ck)  -- a 002 does not count: the counter stays at the limit
        c = limit + 1
      else
        done[#done + 1] = ck .. '\t1\n'
      end
      out[o + 3] = c
      if t == tags[i] then
        out[o + 1] = 3  -- the caller holds this very value: not sent again
      else
        out[o + 1] = 1
        out[o + 4] = redis.call('GET', ik)
      end
    end
  end
end
if #done > 0 then redis.call('SET', bk, table.concat(done), 'EX', 3600) end
return out
"""

FILL = r"""
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end  -- settled: never apply
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
if ARGV[3] == '' then return 0 end
local limit = tonumber(ARGV[4])
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
local c = before
local s = tonumber(ARGV[3])
if s > c then c = s end
local out = limit + 1
if c < limit then
  c = c + 1
  out = c
end
redis.call('SET', KEYS[2], c)
redis.call('EXPIREAT', KEYS[2], ARGV[5])
if c > before then
  redis.call('SET', KEYS[3], KEYS[2] .. '\t' .. (c - before) .. '\n', 'EX', 3600)
end
return out
"""

SETTLE = r"""
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v and v ~= 'x' then
    for k, n in string.gmatch(v, '([^\t\n]+)\t(%d+)\n') do
      if redis.call('EXISTS', k) == 1 then redis.call('DECRBY', k, n) end
    end
  end
  redis.call('SET', KEYS[i], 'x', 'EX', 3600)
end
return #KEYS
"""

RAISE = """
for i = 1, #KEYS do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tonumber(ARGV[i+1]) > c then
    redis.call('SET', KEYS[i], ARGV[i+1])
    redis.call('EXPIREAT', KEYS[i], ARGV[1])
  end
end
return #KEYS
"""
