// Package meta is the seam between Weir and its metadata store: a small,
// strongly consistent key-value store with compare-and-swap transactions.
// Everything small and shared lives there (topics, partition owners and
// epochs, the object index); high-rate state does not.
//
// Implementations: memory (tests) and etcd (an embedded single-node etcd by
// default, or an external etcd cluster). The acceptance suite is metatest.
package meta

import (
	"context"
	"errors"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("meta: closed")

// KeyValue is one stored key with the revision of its last modification.
type KeyValue struct {
	Key    string
	Value  []byte
	ModRev int64
}

// Cond is a precondition of a transaction: the key's modification revision
// equals ModRev. ModRev 0 means the key must not exist.
type Cond struct {
	Key    string
	ModRev int64
}

// Op is one write of a transaction: put Key=Value, or delete Key, or (with
// Prefix) delete every key starting with Key.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
	Prefix bool
}

// KV is a consistent key-value store.
//
// Contract (checked by metatest):
//   - Revisions are positive and increase with every successful transaction
//     that writes; every key written by one transaction gets its revision
//     as ModRev.
//   - Txn applies all ops atomically if and only if every cond holds; it
//     returns ok=false and changes nothing otherwise.
//   - Reads after a successful Txn see its writes.
//   - List returns keys with the prefix in lexical order.
//   - A Txn may write a key only once: two puts of a key, or a put of a
//     key that a delete in the same Txn covers, is an error (etcd's rule).
//   - An error from Txn leaves the outcome unknown: the ops may have been
//     applied (etcd can commit and then lose the reply). Callers re-read,
//     or rely on conds to make a retry harmless.
type KV interface {
	// Get returns the value and ModRev of key; ok is false if it is absent.
	Get(ctx context.Context, key string) (kv KeyValue, ok bool, err error)
	// List returns every key starting with prefix.
	List(ctx context.Context, prefix string) ([]KeyValue, error)
	// Txn applies ops if every cond holds and returns the revision of the
	// write.
	Txn(ctx context.Context, conds []Cond, ops []Op) (rev int64, ok bool, err error)
	Close() error
}
