package redislocks

import "github.com/redis/go-redis/v9"

// The scripts get KEYS[1] = T:all, so that a cluster client sends them to
// the node that owns the hash tag, and build every other key from ARGV[1] =
// T: all of them share the hash tag and so the slot. Times are Unix
// milliseconds of the caller's clock; an expiry of 0 means never.

// prelude defines the helpers every script uses.
const prelude = `
local T = ARGV[1]

-- drop deletes the lock record of tok and its index entries.
local function drop(tok)
  local k = T .. ':lock:' .. tok
  local v = redis.call('HMGET', k, 'root', 'anc')
  if v[1] then
    redis.call('SREM', T .. ':at:' .. v[1], tok)
    for h in string.gmatch(v[2], '%S+') do
      redis.call('SREM', T .. ':under:' .. h, tok)
    end
  end
  redis.call('DEL', k, T .. ':hold:' .. tok)
  redis.call('SREM', T .. ':all', tok)
end

-- alive returns {root, zero, shared} of a live lock, or false after
-- dropping a dead one: expired, or its instance's lease lapsed.
local function alive(tok, now)
  local v = redis.call('HMGET', T .. ':lock:' .. tok, 'root', 'zero', 'shared', 'exp', 'owner')
  if not v[1] then
    redis.call('SREM', T .. ':all', tok)
    return false
  end
  local exp = tonumber(v[4])
  if (exp ~= 0 and now >= exp) or redis.call('EXISTS', T .. ':inst:' .. v[5]) == 0 then
    drop(tok)
    return false
  end
  return {v[1], v[2], v[3]}
end

local function held(tok)
  return redis.call('EXISTS', T .. ':hold:' .. tok) == 1
end
`

// createScript: ARGV T, now, shared, zero, exp, owner, lease ms, token,
// sealed details, then the root's hash and its ancestors' (nearest first).
// Returns 1 when the lock is created, 0 when a live lock conflicts.
var createScript = redis.NewScript(prelude + `
local now, shared, zero = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local exp, owner, lease, tok, sealed = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
redis.call('SET', T .. ':inst:' .. owner, '1', 'PX', lease)

-- conflicts reports whether a live lock among the tokens of set conflicts;
-- depthOnly: only locks of depth infinity count. Dead entries are removed.
local function conflicts(set, depthOnly)
  for _, t in ipairs(redis.call('SMEMBERS', set)) do
    local v = alive(t, now)
    if not v then
      redis.call('SREM', set, t)
    elseif not (shared == '1' and v[3] == '1') and not (depthOnly and v[2] == '1') then
      return true
    end
  end
  return false
end

local root = ARGV[10]
if conflicts(T .. ':at:' .. root, false) then return 0 end
for i = 11, #ARGV do
  if conflicts(T .. ':at:' .. ARGV[i], true) then return 0 end
end
if zero == '0' and conflicts(T .. ':under:' .. root, false) then return 0 end

local anc = {}
for i = 11, #ARGV do
  anc[#anc + 1] = ARGV[i]
  redis.call('SADD', T .. ':under:' .. ARGV[i], tok)
end
redis.call('HSET', T .. ':lock:' .. tok, 'root', root, 'zero', zero, 'shared', shared,
  'exp', exp, 'owner', owner, 'anc', table.concat(anc, ' '), 'sealed', sealed)
redis.call('SADD', T .. ':at:' .. root, tok)
redis.call('SADD', T .. ':all', tok)
return 1
`)

// confirmScript: ARGV T, now, hold ms, hold id, then for each of the two
// names a count and that many hashes (the name's, then its ancestors'),
// then the tokens of the conditions. Returns the tokens it now holds, one
// per name, or an empty array when a name has no live, unheld lock among
// the tokens that covers it.
var confirmScript = redis.NewScript(prelude + `
local now, hold, id = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local names, i = {}, 5
for n = 1, 2 do
  local c = tonumber(ARGV[i])
  if c > 0 then
    local hs = {}
    for j = 1, c do hs[j] = ARGV[i + j] end
    names[#names + 1] = hs
  end
  i = i + c + 1
end
local toks = {}
for j = i, #ARGV do toks[#toks + 1] = ARGV[j] end

local function covers(v, hs)
  if v[1] == hs[1] then return true end
  if v[2] == '1' then return false end
  for j = 2, #hs do
    if v[1] == hs[j] then return true end
  end
  return false
end

local chosen = {}
for _, hs in ipairs(names) do
  local found = false
  for _, t in ipairs(toks) do
    local v = alive(t, now)
    if v and not held(t) and covers(v, hs) then
      found = t
      break
    end
  end
  if not found then return {} end
  chosen[#chosen + 1] = found
end
for _, t in ipairs(chosen) do
  redis.call('SET', T .. ':hold:' .. t, id, 'PX', hold)
end
return chosen
`)

// renewHoldScript: ARGV T, hold id, hold ms, tokens: extends the holds that
// are still id's.
var renewHoldScript = redis.NewScript(`
local T, id, hold = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local k = T .. ':hold:' .. ARGV[i]
  if redis.call('GET', k) == id then redis.call('PEXPIRE', k, hold) end
end
return 1
`)

// releaseHoldScript: ARGV T, hold id, tokens: deletes the holds that are
// still id's.
var releaseHoldScript = redis.NewScript(`
local T, id = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local k = T .. ':hold:' .. ARGV[i]
  if redis.call('GET', k) == id then redis.call('DEL', k) end
end
return 1
`)

// refreshScript: ARGV T, now, token, new expiry, owner, lease ms. Returns
// {"none"}, {"held"} or {"ok", sealed details, zero}; the lock passes to
// owner.
var refreshScript = redis.NewScript(prelude + `
local now, tok, exp, owner, lease = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local v = alive(tok, now)
if not v then return {'none'} end
if held(tok) then return {'held'} end
redis.call('SET', T .. ':inst:' .. owner, '1', 'PX', lease)
local k = T .. ':lock:' .. tok
redis.call('HSET', k, 'exp', exp, 'owner', owner)
return {'ok', redis.call('HGET', k, 'sealed'), v[2]}
`)

// unlockScript: ARGV T, now, token. Returns "none", "held" or "ok".
var unlockScript = redis.NewScript(prelude + `
local tok = ARGV[3]
if not alive(tok, tonumber(ARGV[2])) then return 'none' end
if held(tok) then return 'held' end
drop(tok)
return 'ok'
`)

// sharedScript: ARGV T, now, token. Returns 1 for a live shared lock.
var sharedScript = redis.NewScript(prelude + `
local v = alive(ARGV[3], tonumber(ARGV[2]))
if v and v[3] == '1' then return 1 end
return 0
`)

// sweepScript: ARGV T, now, cursor. Drops the dead locks among a batch of
// T:all and returns the next cursor ("0" at the end).
var sweepScript = redis.NewScript(prelude + `
local res = redis.call('SSCAN', T .. ':all', ARGV[3], 'COUNT', 200)
local now = tonumber(ARGV[2])
for _, t in ipairs(res[2]) do alive(t, now) end
return res[1]
`)
