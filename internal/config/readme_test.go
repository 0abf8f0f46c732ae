package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the configuration reference in README.md")

// TestReadmeReference keeps README's configuration reference equal to the
// settings the code defines.
func TestReadmeReference(t *testing.T) {
	const path = "../../README.md"
	const begin, end = "<!-- BEGIN CONFIG REFERENCE -->\n", "<!-- END CONFIG REFERENCE -->"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the reference markers", path)
	}
	want := MarkdownReference()
	if got := s[i+len(begin) : j]; got != want {
		if !*update {
			t.Fatalf("README.md configuration reference is stale; run: go test ./internal/config -run Readme -update")
		}
		s = s[:i+len(begin)] + want + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
