import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind every change to a stream in Redis. Each runs
 * atomically on the node that holds the stream's slot (its keys share one
 * hash tag), so the checks and the write they guard cannot be separated:
 * that is the fencing. Times come from Redis's own clock (TIME), never a
 * replica's, so replicas whose clocks differ agree on when a lease ran out.
 *
 * Meta hash fields: state (live|ended), model, fp (fingerprint), policy
 * (cancel|grace|keep), pub ("1" for a resumable published stream), prompt
 * (prompt tokens when known at creation, else 0: a generation's count is in
 * its end), inc (incarnation: unique per creation), created, next (the
 * next seq: tokens stored), lease (the producer's token), until (when the
 * lease runs out, ms), attached ("1" while a published stream's producer is
 * connected), end (the StreamEnd as JSON, once ended), own (the principal
 * that created it; empty with auth off).
 */

export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
  /** How many of the arguments are keys. */
  readonly keys: number;
}

function script(name: string, keys: number, body: string): Script {
  const source = `${PRELUDE}\n${body}`;
  return { name, source, keys, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Shared helpers. finish() writes an end that this replica did not produce
 * (a cancel, a lost producer, a corrupt entry): the end entry at the stored
 * next seq, usage from what was stored, the lease dropped, retention started.
 */
const PRELUDE = `
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function finish(meta, log, template, channel, retention_ms)
  local m = redis.call('HMGET', meta, 'next', 'prompt', 'inc')
  local e = cjson.decode(template)
  e.usage = { promptTokens = tonumber(m[2]), completionTokens = tonumber(m[1]) }
  local json = cjson.encode(e)
  -- The end goes at the stored next seq; in a log someone wrote into by hand, just past its last entry.
  local id = m[1] .. '-1'
  local last = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
  if #last > 0 then
    local ms, sq = string.match(last[1][1], '^(%d+)-(%d+)$')
    if tonumber(ms) >= tonumber(m[1]) then id = ms .. '-' .. string.format('%d', tonumber(sq) + 1) end
  end
  redis.call('XADD', log, id, 'e', json)
  redis.call('HSET', meta, 'state', 'ended', 'end', json)
  redis.call('HDEL', meta, 'lease', 'until', 'attached')
  redis.call('PEXPIRE', meta, retention_ms)
  redis.call('PEXPIRE', log, retention_ms)
  redis.call('SPUBLISH', channel, 'e')
  return m[3]
end
-- A live stream whose lease ran out (and, for a resumable published one, its
-- grace after that) has lost its producer: whoever looks first ends it.
local function lost(meta, now, grace_ms)
  local m = redis.call('HMGET', meta, 'state', 'until', 'pub')
  if m[1] ~= 'live' then return false end
  local deadline = tonumber(m[2])
  if m[3] == '1' then deadline = deadline + grace_ms end
  return deadline < now
end
`;

/**
 * KEYS meta, log, readers. ARGV token, lease ms, retention ms, replace
 * finished ("1"), model, fingerprint, policy, pub, prompt tokens,
 * incarnation, lost-end template, channel, grace ms, owner (a principal's
 * name, or empty).
 * → {"ok"} | {"live"} | {"exists"}
 */
export const CREATE = script(
  'create',
  3,
  `
local now = clock()
if lost(KEYS[1], now, tonumber(ARGV[13])) then finish(KEYS[1], KEYS[2], ARGV[11], ARGV[12], tonumber(ARGV[3])) end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'live' then return {'live'} end
if state and ARGV[4] ~= '1' then return {'exists'} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local lease_ms = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'state', 'live', 'model', ARGV[5], 'fp', ARGV[6], 'policy', ARGV[7], 'pub', ARGV[8],
  'prompt', ARGV[9], 'inc', ARGV[10], 'created', string.format('%d', now), 'next', '0', 'lease', ARGV[1],
  'until', string.format('%d', now + lease_ms), 'attached', '1', 'own', ARGV[14])
redis.call('PEXPIRE', KEYS[1], lease_ms + tonumber(ARGV[3]))
return {'ok'}
`,
);

/** The checks every write by the producer passes: the stream is live, the lease is ours and unexpired, and (with a seq) nothing is missing. */
const FENCE = `
local m = redis.call('HMGET', KEYS[1], 'state', 'lease', 'until', 'next')
if not m[1] then return {'gone'} end
if m[1] ~= 'live' then return {'ended'} end
if m[2] ~= ARGV[1] then return {'fenced'} end
local now = clock()
local until_ms = tonumber(m[3])
if until_ms < now then return {'expired'} end
if m[4] ~= ARGV[2] then return {'seq', m[4]} end
`;

/**
 * KEYS meta, log, readers. ARGV token, seq, count, text, lengths, channel,
 * retention ms, and optionally the end JSON. Appends one run as one entry
 * with ID "<seq>-1"; with an end, ends the stream right after it (a short
 * generation is then one round trip). The "t" notification goes out only
 * while some replica has announced readers: the producer's own replica
 * hears of its runs from its writer, and a reader that announces itself
 * reads the log after announcing, so it misses no run.
 * → {"ok", incarnation} | {reason, ...}
 */
export const APPEND = script(
  'append',
  3,
  `${FENCE}
redis.call('XADD', KEYS[2], ARGV[2] .. '-1', 't', ARGV[4], 'l', ARGV[5])
-- The run's text is its tokens joined: its length is their UTF-8 bytes.
redis.call('HINCRBY', KEYS[1], 'bytes', #ARGV[4])
local next = string.format('%d', tonumber(ARGV[2]) + tonumber(ARGV[3]))
local retention_ms = tonumber(ARGV[7])
if ARGV[8] then
  redis.call('XADD', KEYS[2], next .. '-1', 'e', ARGV[8])
  redis.call('HSET', KEYS[1], 'next', next, 'state', 'ended', 'end', ARGV[8])
  redis.call('HDEL', KEYS[1], 'lease', 'until', 'attached')
  redis.call('PEXPIRE', KEYS[1], retention_ms)
  redis.call('PEXPIRE', KEYS[2], retention_ms)
  redis.call('SPUBLISH', ARGV[6], 'e')
  return {'ok', redis.call('HGET', KEYS[1], 'inc')}
end
redis.call('HSET', KEYS[1], 'next', next)
redis.call('PEXPIRE', KEYS[2], until_ms - now + retention_ms)
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('SPUBLISH', ARGV[6], 't' .. next) end
return {'ok'}
`,
);

/**
 * KEYS meta, log. ARGV token, seq (every token stored), end JSON, channel,
 * retention ms. The producer's own end. → {"ok", incarnation} | {reason, ...}
 */
export const END = script(
  'end',
  2,
  `${FENCE}
redis.call('XADD', KEYS[2], ARGV[2] .. '-1', 'e', ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'ended', 'end', ARGV[3])
redis.call('HDEL', KEYS[1], 'lease', 'until', 'attached')
local retention_ms = tonumber(ARGV[5])
redis.call('PEXPIRE', KEYS[1], retention_ms)
redis.call('PEXPIRE', KEYS[2], retention_ms)
redis.call('SPUBLISH', ARGV[4], 'e')
return {'ok', redis.call('HGET', KEYS[1], 'inc')}
`,
);

/**
 * KEYS meta, log. ARGV token, lease ms, retention ms. Extends the lease of
 * a producer that still holds it. → {"ok"} | {reason}
 */
export const RENEW = script(
  'renew',
  2,
  `
local m = redis.call('HMGET', KEYS[1], 'state', 'lease', 'until')
if not m[1] then return {'gone'} end
if m[1] ~= 'live' then return {'ended'} end
if m[2] ~= ARGV[1] then return {'fenced'} end
local now = clock()
if tonumber(m[3]) < now then return {'expired'} end
local lease_ms = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'until', string.format('%d', now + lease_ms))
redis.call('PEXPIRE', KEYS[1], lease_ms + tonumber(ARGV[3]))
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], lease_ms + tonumber(ARGV[3])) end
return {'ok'}
`,
);

/**
 * KEYS meta, log. ARGV end template, channel, retention ms, mode ("stop":
 * end it if it is live; "lose": only if its producer is lost), grace ms.
 * Ends a stream this replica does not produce. → {"ok", incarnation, bytes} |
 * {"live"} | {"ended"} | {"gone"}
 */
export const STOP = script(
  'stop',
  2,
  `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone'} end
if state ~= 'live' then return {'ended'} end
if ARGV[4] == 'lose' and not lost(KEYS[1], clock(), tonumber(ARGV[5])) then return {'live'} end
return {'ok', finish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3])), redis.call('HGET', KEYS[1], 'bytes') or '0'}
`,
);

/**
 * KEYS meta, log. ARGV lost-end template, channel, retention ms, grace ms.
 * The stream's meta as a flat field/value list, after ending it first if its
 * producer is lost; {} when there is no such stream. Every lookup goes
 * through here, so a dead producer is noticed by whoever looks.
 */
export const INSPECT = script(
  'inspect',
  2,
  `
local now = clock()
if lost(KEYS[1], now, tonumber(ARGV[4])) then finish(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3])) end
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 then
  fields[#fields + 1] = 'now'
  fields[#fields + 1] = string.format('%d', now)
end
return fields
`,
);

/**
 * KEYS meta, log. ARGV new token, lease ms, retention ms, grace ms, channel,
 * lost-end template. A resumable published stream whose producer went away
 * (detached, or its replica's lease ran out) gets a new producer here.
 * → {"ok", next, bytes} | {"attached", ms the lease still runs} | {"lost"} |
 * {"not-resumable"} | {"ended"} | {"gone"}
 */
export const TAKEOVER = script(
  'takeover',
  2,
  `
local m = redis.call('HMGET', KEYS[1], 'state', 'pub', 'attached', 'until', 'next', 'bytes')
if not m[1] then return {'gone'} end
if m[1] ~= 'live' then return {'ended'} end
if m[2] ~= '1' then return {'not-resumable'} end
local now = clock()
local until_ms = tonumber(m[4])
if m[3] == '1' and until_ms >= now then return {'attached', until_ms - now} end
if lost(KEYS[1], now, tonumber(ARGV[4])) then
  finish(KEYS[1], KEYS[2], ARGV[6], ARGV[5], tonumber(ARGV[3]))
  return {'lost'}
end
local lease_ms = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'lease', ARGV[1], 'until', string.format('%d', now + lease_ms), 'attached', '1')
redis.call('PEXPIRE', KEYS[1], lease_ms + tonumber(ARGV[3]))
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], lease_ms + tonumber(ARGV[3])) end
redis.call('SPUBLISH', ARGV[5], 'x' .. ARGV[1])
return {'ok', m[5], m[6] or '0'}
`,
);

/**
 * KEYS meta. ARGV token, "0" or "1". Whether a published stream's producer
 * is connected: "0" when it went away (the lease stays, for its grace), "1"
 * when it came back here. → {"ok"} | {reason}
 */
export const ATTACHED = script(
  'attached',
  1,
  `
local m = redis.call('HMGET', KEYS[1], 'state', 'lease')
if m[1] ~= 'live' then return {'ended'} end
if m[2] ~= ARGV[1] then return {'fenced'} end
redis.call('HSET', KEYS[1], 'attached', ARGV[2])
return {'ok'}
`,
);

/**
 * KEYS readers. ARGV replica id, ttl ms ("0" to leave), channel, "1" to
 * announce it. This replica has readers of the stream (until now + ttl), or
 * none any more. → 1
 */
export const PRESENCE = script(
  'presence',
  1,
  `
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  local now = clock()
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + ttl))
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if ARGV[4] == '1' then redis.call('SPUBLISH', ARGV[3], 'r') end
return 1
`,
);

/** KEYS readers. ARGV replica id. How many other replicas have readers of the stream now; expired entries are dropped. */
export const OTHER_READERS = script(
  'other-readers',
  1,
  `
local now = clock()
local entries = redis.call('HGETALL', KEYS[1])
local count = 0
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) < now then redis.call('HDEL', KEYS[1], entries[i])
  elseif entries[i] ~= ARGV[1] then count = count + 1 end
end
return count
`,
);

/** KEYS meta, log, readers. ARGV incarnation. Deletes a finished stream if it is still that incarnation (not a newer stream reusing the id). */
export const FORGET = script(
  'forget',
  3,
  `
local m = redis.call('HMGET', KEYS[1], 'state', 'inc')
if m[1] == 'ended' and m[2] == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) return 1 end
return 0
`,
);

/**
 * KEYS retained (a sorted set by finish time), retained bytes (a hash:
 * member → bytes, and their "total"). ARGV member ("<id> <incarnation>"),
 * retention ms, most retained, its token text bytes, most retained bytes.
 * Records a finished stream and returns the members past the count or byte
 * bound (oldest first), whose keys the caller deletes; members past the
 * retention time are dropped (their keys have expired).
 */
export const RETIRE = script(
  'retire',
  2,
  `
local now = clock()
local function drop(member)
  local bytes = tonumber(redis.call('HGET', KEYS[2], member) or '0')
  redis.call('HDEL', KEYS[2], member)
  -- Formatted, since Lua would write minus zero as "-0", which Redis refuses as an integer.
  if bytes ~= 0 then redis.call('HINCRBY', KEYS[2], 'total', string.format('%d', -bytes)) end
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('HINCRBY', KEYS[2], 'total', tonumber(ARGV[4]))
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))) do
  redis.call('ZREM', KEYS[1], member)
  drop(member)
end
local members = {}
local most, most_bytes = tonumber(ARGV[3]), tonumber(ARGV[5])
while redis.call('ZCARD', KEYS[1]) > most or tonumber(redis.call('HGET', KEYS[2], 'total') or '0') > most_bytes do
  local popped = redis.call('ZPOPMIN', KEYS[1], 1)
  if #popped == 0 then break end
  drop(popped[1])
  members[#members + 1] = popped[1]
end
return members
`,
);

/**
 * KEYS meta, log. ARGV incarnation ("" for any), cursor (the last entry read,
 * "" for none), from seq, count. The next entries of the log after the
 * cursor, or from the run that holds `from seq` (a seek, not a scan), if the
 * stream is still the incarnation the reader started on.
 * → {"ok", entries} | {"replaced"} | {"gone"}
 */
export const READ = script(
  'read',
  2,
  `
local inc = redis.call('HGET', KEYS[1], 'inc')
if not inc then return {'gone'} end
if ARGV[1] ~= '' and inc ~= ARGV[1] then return {'replaced'} end
local start = '-'
if ARGV[2] ~= '' then
  start = '(' .. ARGV[2]
elseif tonumber(ARGV[3]) > 0 then
  local before = redis.call('XREVRANGE', KEYS[2], ARGV[3] .. '-1', '-', 'COUNT', 1)
  if #before > 0 then start = before[1][1] end
end
return {'ok', redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', tonumber(ARGV[4]))}
`,
);
