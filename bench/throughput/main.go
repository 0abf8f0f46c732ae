// Command throughput measures produce throughput, then catch-up consume
// throughput, of an in-process Weir broker and of kfake (franz-go's fake
// Kafka), with the same franz-go client settings, and prints a Markdown
// table.
//
//	go run ./bench/throughput -records 200000 -partitions 1,8 -runs 3
//
// Every run gets a fresh broker: Weir with its real defaults (file WAL,
// filesystem object store, embedded etcd, all in a temporary data dir) or a
// one-broker kfake cluster. A run creates the topic, produces -records
// records of -size random bytes (acks=all, no compression, idempotence off,
// as Weir has no InitProducerId yet), then reads them all back from the
// start. With -runs > 1 the table shows the median of each column, and the
// range of MiB/s.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/loadgen"
	"github.com/weirdb/weir/internal/node"
)

func main() {
	var (
		records    = flag.Int("records", 200000, "records produced (and consumed) per run")
		size       = flag.Int("size", 1024, "record value size in bytes")
		partsFlag  = flag.String("partitions", "1,8", "comma-separated partition counts")
		targets    = flag.String("targets", "weir,kfake", "comma-separated targets: weir, kfake")
		runs       = flag.Int("runs", 1, "runs per target and partition count; the table shows medians")
		linger     = flag.Duration("linger", 10*time.Millisecond, "producer linger")
		inflight   = flag.Int("inflight", 0, "max produce requests in flight per broker (0: franz-go default, 1 without idempotence)")
		out        = flag.String("out", "", "also write the Markdown table to this file")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the Weir runs (broker and client, same process) to this file")
		verbose    = flag.Bool("v", false, "log Weir at Info level (default Warn)")
	)
	flag.Parse()
	log.SetFlags(0)

	var partitions []int
	for _, s := range strings.Split(*partsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("bad -partitions %q", *partsFlag)
		}
		partitions = append(partitions, n)
	}
	var tgts []string
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if t != "weir" && t != "kfake" {
			log.Fatalf("unknown target %q: want weir or kfake", t)
		}
		tgts = append(tgts, t)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var clientOpts []kgo.Opt
	if *inflight > 0 {
		clientOpts = append(clientOpts, kgo.MaxProduceRequestsInflightPerBroker(*inflight))
	}
	base := loadgen.Options{
		Topic:      "bench",
		Records:    *records,
		RecordSize: *size,
		Acks:       "all",
		Linger:     *linger,
		Clients:    1,
		ClientOpts: clientOpts,
	}

	ctx := context.Background()
	var rows []row
	for _, t := range tgts {
		var stopProfile func()
		if t == "weir" && *cpuprofile != "" {
			stopProfile = startProfile(*cpuprofile)
		}
		for _, p := range partitions {
			var prod, cons []loadgen.Result
			for i := range *runs {
				o := base
				o.Partitions = p
				pr, cr, err := runOnce(ctx, t, o, logger)
				if err != nil {
					log.Fatalf("%s, %d partitions, run %d: %v", t, p, i+1, err)
				}
				fmt.Fprintf(os.Stderr, "%s p=%d run %d: produce %v\n%s p=%d run %d: consume %v\n", t, p, i+1, pr, t, p, i+1, cr)
				prod, cons = append(prod, pr), append(cons, cr)
			}
			rows = append(rows, summarize(t, p, "produce", prod), summarize(t, p, "consume", cons))
		}
		if stopProfile != nil {
			stopProfile()
		}
	}

	table := render(rows, *runs)
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func startProfile(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
}

// runOnce starts a fresh target, creates the topic, produces, consumes and
// stops the target.
func runOnce(ctx context.Context, target string, o loadgen.Options, logger *slog.Logger) (prod, cons loadgen.Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var stop func() error
	switch target {
	case "weir":
		dir, err := os.MkdirTemp("", "weir-bench-")
		if err != nil {
			return prod, cons, err
		}
		defer os.RemoveAll(dir)
		n, err := node.Start(ctx, node.Options{Config: config.Default(), Listen: "127.0.0.1:0", DataDir: dir, Logger: logger})
		if err != nil {
			return prod, cons, fmt.Errorf("start weir: %w", err)
		}
		o.Brokers = []string{n.Addr()}
		stop = func() error {
			cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
			defer ccancel()
			start := time.Now()
			err := n.Close(cctx)
			fmt.Fprintf(os.Stderr, "weir close took %v\n", time.Since(start).Round(time.Millisecond))
			return err
		}
	case "kfake":
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return prod, cons, fmt.Errorf("start kfake: %w", err)
		}
		o.Brokers = c.ListenAddrs()
		stop = func() error { c.Close(); return nil }
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = fmt.Errorf("stop %s: %w", target, serr)
		}
	}()

	if err = loadgen.CreateTopic(ctx, o); err != nil {
		return prod, cons, err
	}
	if prod, err = loadgen.Produce(ctx, o); err != nil {
		return prod, cons, fmt.Errorf("produce: %w", err)
	}
	if cons, err = loadgen.Consume(ctx, o); err != nil {
		return prod, cons, fmt.Errorf("consume: %w", err)
	}
	return prod, cons, nil
}

type row struct {
	target      string
	partitions  int
	phase       string
	records     int64
	mbps        float64
	mbpsMin     float64
	mbpsMax     float64
	rps         float64
	p50, p99    time.Duration
	hasLatency  bool
	runs        int
	durationMed time.Duration
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summarize(target string, partitions int, phase string, rs []loadgen.Result) row {
	pick := func(f func(loadgen.Result) float64) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	pickD := func(f func(loadgen.Result) time.Duration) []time.Duration {
		var out []time.Duration
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	mb := pick(func(r loadgen.Result) float64 { return r.MBPerSec })
	return row{
		target: target, partitions: partitions, phase: phase, runs: len(rs),
		records:     rs[0].Records,
		mbps:        median(mb),
		mbpsMin:     slices.Min(mb),
		mbpsMax:     slices.Max(mb),
		rps:         median(pick(func(r loadgen.Result) float64 { return r.RecordsPerSec })),
		p50:         median(pickD(func(r loadgen.Result) time.Duration { return r.Latency.P50 })),
		p99:         median(pickD(func(r loadgen.Result) time.Duration { return r.Latency.P99 })),
		hasLatency:  phase == "produce",
		durationMed: median(pickD(func(r loadgen.Result) time.Duration { return r.Duration })),
	}
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func render(rows []row, runs int) string {
	var b strings.Builder
	rangeCol := runs > 1
	b.WriteString("| target | partitions | phase | records | MiB/s |")
	if rangeCol {
		b.WriteString(" MiB/s range |")
	}
	b.WriteString(" records/s | p50 ack ms | p99 ack ms |\n|---|---:|---|---:|---:|")
	if rangeCol {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %.1f |", r.target, r.partitions, r.phase, r.records, r.mbps)
		if rangeCol {
			fmt.Fprintf(&b, " %.1f–%.1f |", r.mbpsMin, r.mbpsMax)
		}
		p50, p99 := "–", "–"
		if r.hasLatency {
			p50, p99 = fmtMs(r.p50), fmtMs(r.p99)
		}
		fmt.Fprintf(&b, " %.0f | %s | %s |\n", r.rps, p50, p99)
	}

	// Weir/kfake ratios, where both targets ran.
	type key struct {
		p     int
		phase string
	}
	weir, kf := map[key]row{}, map[key]row{}
	var keys []key
	for _, r := range rows {
		k := key{r.partitions, r.phase}
		switch r.target {
		case "weir":
			weir[k] = r
			keys = append(keys, k)
		case "kfake":
			kf[k] = r
		}
	}
	var ratios strings.Builder
	for _, k := range keys {
		w, ok := kf[k]
		if !ok {
			continue
		}
		r := weir[k]
		lat := "–"
		if r.hasLatency && w.p99 > 0 {
			lat = fmt.Sprintf("%.2f", float64(r.p99)/float64(w.p99))
		}
		fmt.Fprintf(&ratios, "| %d | %s | %.2f | %s |\n", k.p, k.phase, r.mbps/w.mbps, lat)
	}
	if ratios.Len() > 0 {
		b.WriteString("\n| partitions | phase | Weir/kfake throughput | Weir/kfake p99 ack |\n|---:|---|---:|---:|\n")
		b.WriteString(ratios.String())
	}
	return b.String()
}
