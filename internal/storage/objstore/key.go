package objstore

import (
	"fmt"
	"strings"
)

const (
	// MaxKeyLen is the longest key, in bytes: S3's limit. The S3 store's
	// Prefix counts against S3's limit too, so keep keys well below it.
	MaxKeyLen = 1024
	// MaxSegmentLen is the longest key segment: the file name limit of
	// common filesystems, so that a key valid here is valid on disk too.
	MaxSegmentLen = 255
)

// ValidateKey reports whether key obeys the key rules, wrapping ErrInvalidKey
// if not. A key is one or more segments joined by "/"; each segment is
// non-empty, at most MaxSegmentLen bytes of [A-Za-z0-9._-], and does not start
// with ".". Forbidding leading dots rules out "." and ".." (so a key can never
// escape the filesystem store's root) and leaves hidden names free for the
// filesystem store's temporary files.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes is longer than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidKey, key)
		case seg[0] == '.':
			return fmt.Errorf("%w: %q has a segment starting with '.'", ErrInvalidKey, key)
		case len(seg) > MaxSegmentLen:
			return fmt.Errorf("%w: %q has a segment longer than %d bytes", ErrInvalidKey, key, MaxSegmentLen)
		}
	}
	return validChars(key)
}

// validatePrefix checks a List prefix. A prefix may end mid-segment, so only
// the characters and a leading slash are checked: a prefix that no valid key
// can start with simply lists nothing.
func validatePrefix(prefix string) error {
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q starts with '/'", ErrInvalidKey, prefix)
	}
	return validChars(prefix)
}

func validChars(s string) error {
	for i := 0; i < len(s); i++ {
		if !keyChar(s[i]) {
			return fmt.Errorf("%w: %q has byte %q at %d outside [A-Za-z0-9._/-]", ErrInvalidKey, s, s[i], i)
		}
	}
	return nil
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '/'
}

// checkRange validates a GetRange request against an object of the given size.
func checkRange(key string, off, n, size int64) error {
	if off < 0 || n < 0 || off > size || n > size-off {
		return fmt.Errorf("get object %s range [%d, +%d) of %d bytes: %w", key, off, n, size, ErrInvalidRange)
	}
	return nil
}
