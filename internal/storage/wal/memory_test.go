package wal_test

import (
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
	"github.com/weirdb/weir/internal/storage/wal/waltest"
)

func TestMemory(t *testing.T) {
	t.Run("volatile", func(t *testing.T) {
		waltest.Run(t, func(t *testing.T, dir string) wal.WAL {
			return wal.NewMemory()
		}, waltest.Options{})
	})

	// Reopen stands in for the directory, so the persistent half of the
	// suite runs against Memory too.
	t.Run("reopen", func(t *testing.T) {
		byDir := make(map[string]*wal.Memory)
		waltest.Run(t, func(t *testing.T, dir string) wal.WAL {
			m := wal.NewMemory()
			if old, ok := byDir[dir]; ok {
				m = old.Reopen()
			}
			byDir[dir] = m
			return m
		}, waltest.Options{Persistent: true})
	})
}

func TestMemoryTrimDropsExactly(t *testing.T) {
	m := wal.NewMemory()
	for i := range 10 {
		if _, err := m.Append([]byte{byte(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Trim(4); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	if err := m.Reopen().Replay(func(seq uint64, _ []byte) error {
		seqs = append(seqs, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 7 || seqs[0] != 4 {
		t.Fatalf("replayed %v after Trim(4), want 4..10", seqs)
	}
}
