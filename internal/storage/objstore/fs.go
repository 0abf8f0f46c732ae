package objstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// tempPrefix starts the name of every file Put has not yet renamed into place.
// Keys cannot have a segment starting with ".", so no key ever names one, and
// List skips them: a crash mid-Put leaves at most an invisible temp file.
const tempPrefix = ".tmp-"

// FS is the filesystem Store: the object with key "a/b/c" is the file
// root/a/b/c.
//
// Put persists, then publishes: it writes and fsyncs a temp file in the
// object's directory, renames it into place and fsyncs the directory, so a
// reader or a restart after a crash sees all of the object or none of it.
// On Linux, objects are written and large ranges read with O_DIRECT where
// the filesystem allows it, bypassing the page cache (writeback_linux.go
// says why); the files are the same either way.
// Delete removes directories it leaves empty, without an fsync: a delete lost
// in a crash resurrects an object that Weir's sweeper deletes again.
type FS struct {
	root string
	// failpoint, when set by tests, is called at each named step of Put
	// ("put.written", "put.synced", "put.renamed"). A non-nil error
	// simulates a crash there: Put returns it at once and cleans nothing up.
	failpoint func(name string) error
}

var _ Store = (*FS)(nil)

// NewFS opens the store rooted at the directory root, creating it if needed.
func NewFS(root string) (*FS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open object store %s: %w", root, err)
	}
	// Make the root itself durable in case MkdirAll just created it.
	if err := syncDir(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("open object store %s: %w", root, err)
	}
	return &FS{root: abs}, nil
}

// Root returns the absolute path of the store's root directory.
func (f *FS) Root() string { return f.root }

func (f *FS) path(key string) string {
	return filepath.Join(f.root, filepath.FromSlash(key))
}

// Put writes data under key atomically and durably.
func (f *FS) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	if err := f.put(key, data); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	return nil
}

func (f *FS) put(key string, data []byte) error {
	path := f.path(key)
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%w: other keys start with %q", ErrInvalidKey, key+"/")
	}
	dir := filepath.Dir(path)
	tmp, err := f.createTemp(dir)
	if err != nil {
		return err
	}
	// keepTemp is set once the temp file is renamed (its name may then be
	// reused by another Put) or a failpoint simulates a crash.
	keepTemp := false
	defer func() {
		if !keepTemp {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	fail := func(name string) error {
		if f.failpoint == nil {
			return nil
		}
		err := f.failpoint(name)
		keepTemp = err != nil
		return err
	}
	if err := writeFile(tmp, data); err != nil {
		return err
	}
	if err := fail("put.written"); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := fail("put.synced"); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			return fmt.Errorf("%w: other keys start with %q", ErrInvalidKey, key+"/")
		}
		return err
	}
	keepTemp = true
	if err := fail("put.renamed"); err != nil {
		return err
	}
	return syncDir(dir)
}

// createTemp creates a temp file in dir, creating dir first if needed. A
// concurrent Delete may remove a directory it has just emptied between the
// two steps, so a vanished directory is retried a few times.
func (f *FS) createTemp(dir string) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		err := f.mkdirs(dir)
		if err == nil {
			var tmp *os.File
			tmp, err = os.CreateTemp(dir, tempPrefix+"*")
			if err == nil {
				return tmp, nil
			}
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 5 {
			return nil, err
		}
	}
}

// mkdirs creates dir and its missing parents below the root, fsyncing each
// new directory's parent so that the path survives a crash along with the
// object renamed into it.
func (f *FS) mkdirs(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(f.root, dir)
	if err != nil {
		return err
	}
	parent := f.root
	for seg := range strings.SplitSeq(rel, string(filepath.Separator)) {
		cur := filepath.Join(parent, seg)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			if st, err := os.Stat(cur); err != nil {
				return err
			} else if !st.IsDir() {
				return fmt.Errorf("%w: key %q is a path prefix of it", ErrInvalidKey, f.keyOf(cur))
			}
		default:
			return err
		}
		parent = cur
	}
	return nil
}

func (f *FS) keyOf(path string) string {
	rel, err := filepath.Rel(f.root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(rel)
}

// Get returns the whole object.
func (f *FS) Get(ctx context.Context, key string) ([]byte, error) {
	file, size, err := f.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	buf, err := readRange(file, 0, size)
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	return buf, nil
}

// GetRange returns n bytes of the object starting at off.
func (f *FS) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	file, size, err := f.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if err := checkRange(key, off, n, size); err != nil {
		return nil, err
	}
	buf, err := readRange(file, off, n)
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	return buf, nil
}

// readBuffered reads n bytes of f at off through the page cache.
func readBuffered(f *os.File, off, n int64) ([]byte, error) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && !(err == io.EOF && n == 0) {
		return nil, err
	}
	return buf, nil
}

func (f *FS) open(ctx context.Context, key string) (*os.File, int64, error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, fmt.Errorf("get object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("get object %s: %w", key, err)
	}
	file, err := os.Open(f.path(key))
	if err != nil {
		if notExist(err) {
			return nil, 0, fmt.Errorf("get object %s: %w", key, ErrNotExist)
		}
		return nil, 0, fmt.Errorf("get object %s: %w", key, err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, fmt.Errorf("get object %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		// A directory holding longer keys is not an object.
		file.Close()
		return nil, 0, fmt.Errorf("get object %s: %w", key, ErrNotExist)
	}
	return file, st.Size(), nil
}

// notExist reports whether err means a path is missing, including the case
// where a parent is a file ("a/b" when "a" is an object).
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Delete removes the object and any directories that leaves empty. A missing
// key is not an error.
func (f *FS) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	path := f.path(key)
	st, err := os.Lstat(path)
	if err != nil {
		if notExist(err) {
			return nil
		}
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	if st.IsDir() {
		// Not an object, and os.Remove would delete it if it were empty.
		return nil
	}
	if err := os.Remove(path); err != nil && !notExist(err) {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	for dir := filepath.Dir(path); dir != f.root; dir = filepath.Dir(dir) {
		// Fails, harmlessly, on the first directory still in use.
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List calls fn for each object whose key starts with prefix, in key order.
// It streams the tree directory by directory, so memory use is bounded by the
// largest directory, not by the number of objects.
func (f *FS) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list objects %s: %w", prefix, err)
	}
	return f.walk(ctx, f.root, "", func(key string, isDir bool) bool {
		if isDir {
			// Descend if the directory's keys can start with prefix.
			return strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key)
		}
		return strings.HasPrefix(key, prefix)
	}, func(key string, d fs.DirEntry) error {
		info, err := d.Info()
		if err != nil {
			if notExist(err) {
				return nil // deleted since ReadDir
			}
			return fmt.Errorf("list objects %s: %w", prefix, err)
		}
		return fn(ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
}

// walk calls visit, in lexical key order, for every regular file below dir
// whose key (keyPrefix + path below dir) passes match and whose name is a
// valid key segment. match is also asked, with a trailing "/", whether to
// descend into each directory.
//
// Sorting siblings by name, with "/" appended to directory names, yields
// lexical key order: every key below directory "a" starts with "a/", so it
// sorts against a sibling file "a-b" or "a0" exactly as "a/" does.
func (f *FS) walk(ctx context.Context, dir, keyPrefix string, match func(key string, isDir bool) bool, visit func(key string, d fs.DirEntry) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if notExist(err) {
			return nil // emptied and removed by a concurrent Delete
		}
		return fmt.Errorf("list objects: %w", err)
	}
	type entry struct {
		sortKey string
		d       fs.DirEntry
	}
	sorted := make([]entry, 0, len(entries))
	for _, d := range entries {
		name := d.Name()
		if name[0] == '.' || validChars(name) != nil {
			continue // temp files, and files no key can name
		}
		switch {
		case d.IsDir():
			sorted = append(sorted, entry{name + "/", d})
		case d.Type().IsRegular():
			sorted = append(sorted, entry{name, d})
		}
	}
	slices.SortFunc(sorted, func(a, b entry) int { return cmp.Compare(a.sortKey, b.sortKey) })
	for _, e := range sorted {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		key := keyPrefix + e.sortKey
		if !match(key, e.d.IsDir()) {
			continue
		}
		if e.d.IsDir() {
			err = f.walk(ctx, filepath.Join(dir, e.d.Name()), key, match, visit)
		} else {
			err = visit(key, e.d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RemoveStaleTemp deletes temp files left by Puts that crashed, and returns
// how many it removed. Only files older than olderThan are touched, so that
// Puts in flight, in this process or another sharing the root, are safe.
func (f *FS) RemoveStaleTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	err := filepath.WalkDir(f.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		if err := os.Remove(path); err == nil {
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove stale temp files in %s: %w", f.root, err)
	}
	return removed, nil
}

// syncDir fsyncs a directory, making the entries created or renamed in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
