package main

import (
	"testing"

	"github.com/weirdb/weir/internal/config"
)

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sets      []string
		gomem     string
		want      int64
		wantLimit bool
	}{
		{name: "defaults: 3 x 256 MiB of caches and pending data + 256 MiB", want: 1 << 30, wantLimit: true},
		{name: "sizes from settings", sets: []string{"weir.log.cache.bytes=100", "weir.block.cache.bytes=20", "weir.pending.max.bytes=3", "weir.memory.overhead.bytes=1000"}, want: 1123, wantLimit: true},
		{name: "overhead 0: no limit", sets: []string{"weir.memory.overhead.bytes=0"}},
		{name: "GOMEMLIMIT wins", gomem: "2GiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomem)
			cfg, err := config.Load("", tc.sets)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := memoryLimit(cfg)
			if ok != tc.wantLimit || got != tc.want {
				t.Fatalf("memoryLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.wantLimit)
			}
		})
	}
}
