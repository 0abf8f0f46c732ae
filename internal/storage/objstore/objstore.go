// Package objstore is the seam between Weir and the durable data layer: a flat
// namespace of immutable objects addressed by key.
//
// Weir never overwrites an object: every key it writes is unique, so stores
// need no read-after-overwrite guarantee. Implementations: memory (tests),
// filesystem (the single-node default) and S3 (any S3-compatible service). The
// shared acceptance suite lives in objstoretest.
//
// Faulty wraps any Store to inject errors and latency, for the crash, retry
// and back-pressure tests of the layers above.
package objstore

import (
	"context"
	"errors"
	"time"
)

// Errors returned, possibly wrapped, by every Store; test with errors.Is.
var (
	// ErrNotExist is returned for a key that does not exist.
	ErrNotExist = errors.New("objstore: object does not exist")
	// ErrInvalidKey is returned for a key or list prefix that breaks the key
	// rules (see ValidateKey), before any I/O is done.
	ErrInvalidKey = errors.New("objstore: invalid key")
	// ErrInvalidRange is returned by GetRange for a negative offset or length
	// or a range that passes the end of the object.
	ErrInvalidRange = errors.New("objstore: invalid range")
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is an object store.
//
// Contract (checked by objstoretest):
//   - Put is atomic: a reader sees either no object or all of it, never part.
//     Once Put returns nil the object is durable and visible to Get, GetRange
//     and List. Put keeps no reference to data once it returns, so the
//     caller may reuse the buffer.
//   - GetRange(key, off, n) returns exactly n bytes starting at off, or an
//     error if the range passes the end of the object.
//   - Delete of a missing key succeeds (deletes are idempotent).
//   - List visits every object whose key starts with prefix, in lexical key
//     order.
//   - Keys are slash-separated paths of [A-Za-z0-9._/-] characters, with no
//     empty or dot segments (see ValidateKey); others fail with ErrInvalidKey.
//   - No key is a path prefix of another: "a" and "a/b" cannot both exist,
//     because the filesystem store (like most POSIX-backed S3 servers) maps
//     segments to directories. Memory and filesystem stores reject such a Put
//     with ErrInvalidKey; S3 cannot check it cheaply and does not.
//   - GetRange past the end fails with ErrInvalidRange; a missing key fails
//     with ErrNotExist from Get and GetRange.
//   - List stops at the first error fn returns and returns that error.
//     Objects put or deleted while List runs may or may not be visited.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}
