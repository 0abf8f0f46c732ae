package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirdb/weir/internal/loadgen"
)

func TestReport(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "r.jsonl")
	phase := func(mib float64, lat bool) *loadgen.PhaseReport {
		p := &loadgen.PhaseReport{Records: 10, Bytes: 1000, Seconds: 1, RecordsPerSec: mib * 1000, MiBPerSec: mib}
		if lat {
			p.LatencyKind = "ack"
			p.LatencyMs = &loadgen.LatencyReport{P50: 1, P95: 2, P99: 3, P999: 4, Max: 5}
		}
		return p
	}
	for _, l := range []line{
		{Target: "limits", Phase: "tcp", Limit: &limit{Chunk: 1 << 20, MiBPerSec: 1000}},
		{Target: "limits", Phase: "fsync", Limit: &limit{Chunk: 1 << 20, MiBPerSec: 200, LatencyMs: &loadgen.LatencyReport{P50: 5, P99: 9, Max: 12}}},
		{Target: "weir", Size: 100, Partitions: 1, Phase: "produce", Report: &loadgen.Report{Produce: phase(50, true)}},
		{Target: "weir", Size: 100, Partitions: 1, Phase: "produce", Run: 2, Report: &loadgen.Report{Produce: phase(70, true)}},
		{Target: "kfake", Size: 100, Partitions: 1, Phase: "produce", Report: &loadgen.Report{Produce: phase(100, true)}},
		{Target: "weir", Size: 100, Partitions: 1, Phase: "catchup", Report: &loadgen.Report{Consume: phase(300, false)}},
		{Target: "weir", Size: 100, Partitions: 1, Phase: "latency", Report: &loadgen.Report{
			Settings: loadgen.ReportSettings{Rate: 30000}, Produce: phase(3, true), Consume: phase(3, true)}},
	} {
		if err := appendLine(res, l); err != nil {
			t.Fatal(err)
		}
	}
	md, pngPath := filepath.Join(dir, "b.md"), filepath.Join(dir, "b.png")
	if err := os.WriteFile(md, []byte("old generated part\n"+endMarker+"\n\nhand-written notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmdReport([]string{"-in", res, "-md", md, "-png", pngPath, "-date", "today", "-kafka-note", "no java"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"| 100 B | 1 | 60.0 (60k/s) [50.0–70.0] | 100 (100k/s) | – | 0.60 | – | 0.30 |", // median of 2 runs; limit is the fsync probe
		"| 100 B | 1 | 300 (300k/s) | – | – | – | – | 0.30 |",                           // reads: the TCP limit
		"| 100 B | 1 | 30k/s | Weir (file WAL) | 3k/s | 1.00 |",
		"no java",
		"1 MiB write + fsync",
		"hand-written notes",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "old generated part") || strings.Count(s, endMarker) != 1 {
		t.Errorf("generated part not replaced:\n%s", s)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != chartW {
		t.Fatalf("chart: %v, bounds %v", err, img.Bounds())
	}
}

func TestMedian(t *testing.T) {
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Fatal("median")
	}
}

func TestNoiseNote(t *testing.T) {
	for _, tc := range []struct {
		before string
		want   string
	}{
		{"load 0.50 1.31 1.63, CPU pressure 3.30/5.82%", "ran nothing else"},
		{"load 2.40 1.31 1.63, CPU pressure 30.1/25.0%", "shared with other work"},
		{"", "not recorded"},
		{"load ?", "not recorded"},
	} {
		if got := noiseNote(tc.before); !strings.Contains(got, tc.want) {
			t.Errorf("noiseNote(%q) = %q, want it to say %q", tc.before, got, tc.want)
		}
	}
}
