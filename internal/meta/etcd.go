package meta

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
)

// listPage bounds one List round trip, so a large object index never turns
// into a single response that hits gRPC's message limits or stalls etcd.
const listPage = 1000

// maxRequestBytes is what we let one request weigh. Weir commits one
// transaction per uploaded object, covering every partition in it, so
// requests are larger than etcd's 1.5 MiB default. Kept under etcd's
// recommended ceiling of 10 MiB. The embedded server is configured to match;
// an external cluster needs --max-request-bytes and --max-txn-ops raised too.
const maxRequestBytes = 8 << 20

// Etcd is a KV over an etcd client. Every key is stored under a prefix, so
// Weir can share a cluster with other tenants; revisions are etcd's global
// ones and so may jump by more than one between Weir's own writes.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	closed atomic.Bool
}

var _ KV = (*Etcd)(nil)

// NewEtcd returns a KV storing its keys under prefix (e.g. "/weir/"). The
// caller keeps ownership of cli: Close does not close it, because one client
// is typically shared (with leases and watches, or by Embedded).
func NewEtcd(cli *clientv3.Client, prefix string) *Etcd {
	return &Etcd{cli: cli, prefix: prefix}
}

// DialEtcd connects to an etcd cluster and checks it answers within
// dialTimeout, so a wrong address fails at start-up rather than on the first
// produce. The client's own logs go to slog.Default at error level only: it
// logs every gRPC retry as a warning, which floods the log during a leader
// change that callers already see as errors.
func DialEtcd(ctx context.Context, endpoints []string, dialTimeout time.Duration) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        dialTimeout,
		Logger:             zapToSlog(slog.Default(), zapcore.ErrorLevel, nil),
		MaxCallSendMsgSize: maxRequestBytes + 1<<20, // headroom for gRPC framing
	})
	if err != nil {
		return nil, fmt.Errorf("etcd dial %v: %w", endpoints, err)
	}
	// clientv3.New connects lazily; probe one endpoint so errors show now.
	// ctx bounds only this probe: as the client's Context it would kill the
	// client when a start-up deadline passes.
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Get(pctx, "health-probe", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd dial %v: %w", endpoints, err)
	}
	return cli, nil
}

// Get implements KV.
func (e *Etcd) Get(ctx context.Context, key string) (KeyValue, bool, error) {
	// As in Txn: a done context fails the call, whichever client serves it.
	if err := ctx.Err(); err != nil {
		return KeyValue{}, false, err
	}
	if e.closed.Load() {
		return KeyValue{}, false, ErrClosed
	}
	resp, err := e.cli.Get(ctx, e.prefix+key)
	if err != nil {
		return KeyValue{}, false, fmt.Errorf("etcd get %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KeyValue{}, false, nil
	}
	kv := resp.Kvs[0]
	return KeyValue{Key: key, Value: kv.Value, ModRev: kv.ModRevision}, true, nil
}

// List implements KV. It reads in pages pinned to the revision of the first
// page, so the result is one consistent snapshot however long it is.
func (e *Etcd) List(ctx context.Context, prefix string) ([]KeyValue, error) {
	// As in Txn: a done context fails the call, whichever client serves it.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.closed.Load() {
		return nil, ErrClosed
	}
	start := e.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(start)
	var (
		out []KeyValue
		rev int64
	)
	for {
		opts := []clientv3.OpOption{
			clientv3.WithRange(end),
			clientv3.WithLimit(listPage),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend),
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := e.cli.Get(ctx, start, opts...)
		if err != nil {
			return nil, fmt.Errorf("etcd list %q: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, KeyValue{
				Key:    string(kv.Key[len(e.prefix):]),
				Value:  kv.Value,
				ModRev: kv.ModRevision,
			})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		// The smallest key after the last one returned.
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Txn implements KV.
func (e *Etcd) Txn(ctx context.Context, conds []Cond, ops []Op) (int64, bool, error) {
	// The in-process client may serve a request whose context is already
	// done; a caller that gave up must not have its write applied.
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	if e.closed.Load() {
		return 0, false, ErrClosed
	}
	cmps := make([]clientv3.Cmp, len(conds))
	for i, c := range conds {
		k := e.prefix + c.Key
		if c.ModRev == 0 {
			// A key that never existed and one deleted since both have
			// CreateRevision 0; ModRevision would say the same, but this is
			// the idiom etcd documents for create-only.
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
		} else {
			cmps[i] = clientv3.Compare(clientv3.ModRevision(k), "=", c.ModRev)
		}
	}
	thens := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		k := e.prefix + op.Key
		switch {
		case op.Delete && op.Prefix:
			thens[i] = clientv3.OpDelete(k, clientv3.WithPrefix())
		case op.Delete:
			thens[i] = clientv3.OpDelete(k)
		default:
			thens[i] = clientv3.OpPut(k, string(op.Value))
		}
	}
	resp, err := e.cli.Txn(ctx).If(cmps...).Then(thens...).Commit()
	if err != nil {
		return 0, false, fmt.Errorf("etcd txn (%d conds, %d ops): %w", len(conds), len(ops), err)
	}
	return resp.Header.Revision, resp.Succeeded, nil
}

// Close implements KV. It does not close the client (see NewEtcd).
func (e *Etcd) Close() error {
	e.closed.Store(true)
	return nil
}
