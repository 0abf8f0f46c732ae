package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Reserve advances the counter stored at key (a decimal int64; absent
// means 0) by n with a compare-and-swap and returns the first value of the
// reserved block [first, first+n). Concurrent reservers get disjoint
// blocks. When a write's outcome is unknown (an error after which etcd
// may have applied it), Reserve re-reads and reserves again: a block may
// then be skipped, never handed out twice.
func Reserve(ctx context.Context, kv KV, key string, n int64) (first int64, err error) {
	if n <= 0 {
		return 0, fmt.Errorf("reserve %s: block size %d", key, n)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("reserve %s: %w", key, err)
		}
		cur, ok, err := kv.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("reserve %s: %w", key, err)
		}
		var next, rev int64
		if ok {
			next, err = strconv.ParseInt(string(cur.Value), 10, 64)
			if err != nil || next < 0 {
				return 0, fmt.Errorf("reserve %s: bad counter value %q", key, cur.Value)
			}
			rev = cur.ModRev
		}
		if next > 1<<63-1-n {
			return 0, fmt.Errorf("reserve %s: counter exhausted at %d", key, next)
		}
		_, ok, err = kv.Txn(ctx, []Cond{{Key: key, ModRev: rev}}, []Op{{Key: key, Value: []byte(strconv.FormatInt(next+n, 10))}})
		switch {
		case err == nil && ok:
			return next, nil
		case err == nil:
			continue // another reserver won the race: read again
		case errors.Is(err, ErrClosed) || attempt >= 5:
			return 0, fmt.Errorf("reserve %s: %w", key, err)
		}
	}
}
