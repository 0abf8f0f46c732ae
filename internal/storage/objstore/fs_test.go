package objstore_test

import (
	"testing"

	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/objstore/objstoretest"
)

func TestFS(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, err := objstore.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, objstoretest.Thorough())
}

func TestFSKeyConflicts(t *testing.T) {
	s, err := objstore.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testKeyConflicts(t, s)
}
