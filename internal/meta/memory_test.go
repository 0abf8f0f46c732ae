package meta_test

import (
	"testing"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/meta/metatest"
)

func TestMemory(t *testing.T) {
	metatest.Run(t, func(*testing.T) meta.KV { return meta.NewMemory() })
}
