package objstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests of FS internals; the acceptance suite runs on FS in fs_test.go, from
// package objstore_test because objstoretest imports objstore.

var errCrash = errors.New("simulated crash")

func newFS(t *testing.T) *FS {
	t.Helper()
	s, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func listAll(t *testing.T, s Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(t.Context(), "", func(info ObjectInfo) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// A crash at any step of Put before the rename leaves no object behind, only
// a temp file that List and Get never show, in this process or after a
// restart; a crash after the rename leaves the whole object.
func TestFSCrashDuringPut(t *testing.T) {
	for _, step := range []string{"put.written", "put.synced", "put.renamed"} {
		t.Run(step, func(t *testing.T) {
			s := newFS(t)
			ctx := t.Context()
			if err := s.Put(ctx, "objs/keep", []byte("kept")); err != nil {
				t.Fatal(err)
			}
			s.failpoint = func(name string) error {
				if name == step {
					return errCrash
				}
				return nil
			}
			data := bytes.Repeat([]byte("partial"), 1000)
			if err := s.Put(ctx, "objs/crashed", data); !errors.Is(err, errCrash) {
				t.Fatalf("Put through failpoint %s: error = %v, want the crash", step, err)
			}

			// "Restart": a fresh store on the same root.
			s2, err := NewFS(s.Root())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range []*FS{s, s2} {
				got, err := st.Get(ctx, "objs/crashed")
				if step == "put.renamed" {
					if !bytes.Equal(got, data) {
						t.Fatalf("Get after crash past the rename: %d bytes, %v; want the whole object", len(got), err)
					}
					continue
				}
				if !errors.Is(err, ErrNotExist) {
					t.Fatalf("Get after crash at %s: %d bytes, %v; want ErrNotExist", step, len(got), err)
				}
				if keys := listAll(t, st); !slices.Equal(keys, []string{"objs/keep"}) {
					t.Fatalf("List after crash at %s = %q, want only objs/keep", step, keys)
				}
			}
			temps, _ := filepath.Glob(filepath.Join(s.Root(), "objs", tempPrefix+"*"))
			if want := step != "put.renamed"; (len(temps) == 1) != want {
				t.Fatalf("temp files after crash at %s: %q", step, temps)
			}
		})
	}
}

// Temp files planted by hand, as a crashed process or an older version
// would leave them, stay invisible, and RemoveStaleTemp clears the old ones.
func TestFSTempFilesIgnored(t *testing.T) {
	s := newFS(t)
	ctx := t.Context()
	if err := s.Put(ctx, "a/obj", []byte("x")); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(s.Root(), "a", tempPrefix+"old")
	fresh := filepath.Join(s.Root(), tempPrefix+"fresh")
	for _, p := range []string{old, fresh, filepath.Join(s.Root(), "a", ".DS_Store")} {
		if err := os.WriteFile(p, []byte("half an obj"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	if keys := listAll(t, s); !slices.Equal(keys, []string{"a/obj"}) {
		t.Fatalf("List = %q, want only a/obj", keys)
	}
	if _, err := s.Get(ctx, "a/"+tempPrefix+"old"); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Get of a temp file name: error = %v, want ErrInvalidKey", err)
	}
	n, err := s.RemoveStaleTemp(ctx, time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("stale temp file survived: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("fresh temp file (a Put in flight) was removed: %v", err)
	}
}

// A Put rejected for a key conflict names the key and leaves no temp file.
func TestFSKeyConflictCleanup(t *testing.T) {
	s := newFS(t)
	ctx := t.Context()
	if err := s.Put(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "a/b/c"} {
		err := s.Put(ctx, key, []byte("y"))
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), key) {
			t.Errorf("Put(%q) beside a/b: error = %v, want ErrInvalidKey naming the key", key, err)
		}
	}
	// A failed Put leaves no temp file behind.
	temps, _ := filepath.Glob(filepath.Join(s.Root(), "*", tempPrefix+"*"))
	if len(temps) != 0 {
		t.Fatalf("temp files left by failed Puts: %q", temps)
	}
}

// Delete removes the directories it empties, but never the root.
func TestFSDeletePrunesDirectories(t *testing.T) {
	s := newFS(t)
	ctx := t.Context()
	for _, key := range []string{"x/y/z/1", "x/2"} {
		if err := s.Put(ctx, key, []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "x/y/z/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "x", "y")); !os.IsNotExist(err) {
		t.Fatalf("x/y still exists after deleting its only object: %v", err)
	}
	if err := s.Delete(ctx, "x/2"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.Root())
	if err != nil || len(entries) != 0 {
		t.Fatalf("root after deleting everything: %v, %v; want it empty and present", entries, err)
	}
}

func TestNewFSCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "deep", "root")
	s, err := NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "k")); err != nil || string(got) != "v" {
		t.Fatalf("object file = %q, %v; want the key to map to root/k", got, err)
	}
}
