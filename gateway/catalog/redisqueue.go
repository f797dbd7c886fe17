package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/twincrypt/twincrypt/backends/replica"
)

// The repair queue in Redis has the embedded catalog's layout in one slot:
// P{q}:tasks maps the task key to the biased big-endian time (8 bytes)
// followed by the task record, P{q}:time orders time+task key, and
// P{q}:lease says which instance took a task and until when.

// scriptQueueAdd stores ARGV as task key, value triples.
var scriptQueueAdd = redis.NewScript(`
for i = 1, #ARGV, 2 do
  local tk, v = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', KEYS[1], tk)
  if old then redis.call('ZREM', KEYS[2], string.sub(old, 1, 8) .. tk) end
  redis.call('HSET', KEYS[1], tk, v)
  redis.call('ZADD', KEYS[2], 0, string.sub(v, 1, 8) .. tk)
  redis.call('HDEL', KEYS[3], tk)
end
return {'ok'}`)

var scriptQueueRemove = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return {'kept'} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], string.sub(ARGV[2], 1, 8) .. ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return {'ok'}`)

// scriptQueuePending returns task key, value pairs oldest first. With a
// limit (ARGV[1] > 0) it skips tasks another owner holds an unexpired
// lease on and leases the ones it returns to ARGV[2] for ARGV[3] ms.
var scriptQueuePending = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local out = {'ok'}
local n = 0
local bound = '-'
while true do
  local batch = redis.call('ZRANGEBYLEX', KEYS[2], bound, '+', 'LIMIT', 0, 256)
  for _, m in ipairs(batch) do
    local tk = string.sub(m, 9)
    local take = true
    if limit > 0 then
      local l = redis.call('HGET', KEYS[3], tk)
      if l then
        local sp = string.find(l, ' ', 1, true)
        if sp and string.sub(l, 1, sp - 1) ~= ARGV[2] and tonumber(string.sub(l, sp + 1)) > now then take = false end
      end
    end
    if take then
      local v = redis.call('HGET', KEYS[1], tk)
      if v then
        out[#out + 1] = tk
        out[#out + 1] = v
        n = n + 1
        if limit > 0 then
          redis.call('HSET', KEYS[3], tk, ARGV[2] .. ' ' .. tostring(now + tonumber(ARGV[3])))
          if n >= limit then return out end
        end
      end
    end
  end
  if #batch < 256 then return out end
  bound = '(' .. batch[#batch]
end`)

func (r *Redis) queueKeys() []string {
	return []string{r.qkey("tasks"), r.qkey("time"), r.qkey("lease")}
}

// queueValue is what P{q}:tasks holds for t.
func queueValue(t replica.Task) string {
	nanos := t.Added.UnixNano()
	return string(timeKey(nanos, nil)) + string(encodeTask(t.Op, nanos))
}

// Add implements replica.Queue: each task replaces any stored task for the
// same (Backend, Name), and frees it from any lease.
func (r *Redis) Add(ctx context.Context, tasks ...replica.Task) error {
	args := make([]any, 0, 2*len(tasks))
	for _, t := range tasks {
		if err := checkTask(t); err != nil {
			return fmt.Errorf("catalog queue add: %w", err)
		}
		args = append(args, string(taskKey(t.Backend, t.Name)), queueValue(t))
	}
	if len(tasks) == 0 {
		return nil
	}
	_, err := r.run(ctx, "queue add", scriptQueueAdd, r.queueKeys(), args...)
	return err
}

// Pending implements replica.Queue: up to limit tasks, oldest first, ties
// by backend and then name. Several instances share the queue: with a
// limit (a repair pass taking work), the tasks returned are leased to this
// instance for the queue lease, and tasks another live instance holds are
// left out, so each task is healed by one instance at a time; a lease of
// an instance that died runs out. With limit <= 0 (a look at the whole
// queue) every task is returned and nothing is leased.
func (r *Redis) Pending(ctx context.Context, limit int) ([]replica.Task, error) {
	res, err := r.run(ctx, "queue pending", scriptQueuePending, r.queueKeys(), max(limit, 0), r.owner, r.lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	out := make([]replica.Task, 0, (len(res)-1)/2)
	for i := 1; i+1 < len(res); i += 2 {
		backend, name, err := unescape([]byte(res[i]))
		if err != nil {
			return nil, fmt.Errorf("catalog queue pending: %w", err)
		}
		v := res[i+1]
		if len(v) < 8 {
			return nil, fmt.Errorf("catalog queue pending: %w: short task value", ErrCorrupt)
		}
		op, nanos, err := decodeTask([]byte(v[8:]))
		if err != nil {
			return nil, fmt.Errorf("catalog queue pending: %w", err)
		}
		out = append(out, replica.Task{Backend: backend, Name: string(name), Op: op, Added: time.Unix(0, nanos).UTC()})
	}
	return out, nil
}

// QueueLen counts the tasks on the repair queue.
func (r *Redis) QueueLen(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("catalog queue length: %w", err)
	}
	n, err := r.rdb.HLen(ctx, r.qkey("tasks")).Result()
	if err != nil {
		return 0, r.fail(ctx, "queue length", err)
	}
	return int(n), nil
}

// Remove implements replica.Queue: the stored task goes only if it has
// the same Op and Added.
func (r *Redis) Remove(ctx context.Context, t replica.Task) error {
	_, err := r.run(ctx, "queue remove", scriptQueueRemove, r.queueKeys(), string(taskKey(t.Backend, t.Name)), queueValue(t))
	return err
}
