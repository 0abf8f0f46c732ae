package objstore_test

import (
	"errors"
	"testing"

	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/objstore/objstoretest"
)

func TestMemory(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return objstore.NewMemory()
	}, objstoretest.Thorough())
}

// The memory store rejects what the filesystem store cannot hold, so that
// code tested against memory also runs on disk.
func TestMemoryKeyConflicts(t *testing.T) {
	testKeyConflicts(t, objstore.NewMemory())
}

func testKeyConflicts(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	if err := s.Put(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "a/b/c"} {
		if err := s.Put(ctx, key, []byte("y")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) beside a/b: error = %v, want ErrInvalidKey", key, err)
		}
	}
	// Once a/b is gone, its directory is free to be an object.
	if err := s.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a", []byte("z")); err != nil {
		t.Fatalf("Put(a) after deleting a/b: %v", err)
	}
	if err := s.Put(ctx, "a/b", []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Errorf("Put(a/b) beside a: error = %v, want ErrInvalidKey", err)
	}
}
