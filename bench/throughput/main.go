// Command throughput measures produce throughput, then catch-up consume
// throughput, of an in-process Weir broker and of kfake (franz-go's fake
// Kafka), with the same franz-go client settings, and prints a Markdown
// table.
//
//	go run ./bench/throughput -records 500000 -partitions 1,8 -runs 5 -out table.md
//
// Every run gets a fresh broker: Weir with its real defaults (file WAL,
// filesystem object store, embedded etcd, all in a temporary data dir) or a
// one-broker kfake cluster. A run creates the topic (replication factor 1),
// produces -records records of -size random bytes with one client (acks=all,
// no compression, idempotence off, as Weir has no InitProducerId yet,
// -linger 10ms), checks that the end offsets add up, then reads everything
// back from the start with one direct consumer. Targets alternate run by
// run. With -runs > 1 the table shows the median of each column, and the
// range of MiB/s.
//
// Brokers and clients share the process (and its GC); -cpuprofile profiles
// all of it, so use it with -targets weir.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/loadgen"
	"github.com/weirdb/weir/internal/node"
)

func main() {
	exit := 0
	defer func() { os.Exit(exit) }()
	var (
		records    = flag.Int("records", 500000, "records produced (and consumed) per run")
		size       = flag.Int("size", 1024, "record value size in bytes")
		partsFlag  = flag.String("partitions", "1,8", "comma-separated partition counts")
		targets    = flag.String("targets", "weir,kfake", "comma-separated targets: weir, kfake")
		runs       = flag.Int("runs", 3, "runs per target and partition count; the table shows medians")
		linger     = flag.Duration("linger", 10*time.Millisecond, "producer linger")
		inflight   = flag.Int("inflight", 0, "max produce requests in flight per broker (0: franz-go default, 1 without idempotence)")
		out        = flag.String("out", "", "also write the Markdown table to this file")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the whole run (brokers and clients share the process; use -targets weir to profile Weir alone)")
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

	if *cpuprofile != "" {
		defer startProfile(*cpuprofile)()
	}
	// Targets are interleaved run by run, so that a burst of background
	// load on the machine hits both rather than one.
	ctx := context.Background()
	type key struct {
		target string
		p      int
	}
	prod, cons := map[key][]loadgen.Result{}, map[key][]loadgen.Result{}
	for _, p := range partitions {
		for i := range *runs {
			for _, t := range tgts {
				o := base
				o.Partitions = p
				// Start each run from a collected heap: the previous
				// broker's data must not tax this one's GC.
				runtime.GC()
				debug.FreeOSMemory()
				pr, cr, err := runOnce(ctx, t, o, logger)
				if err != nil {
					log.Fatalf("%s, %d partitions, run %d: %v", t, p, i+1, err)
				}
				fmt.Fprintf(os.Stderr, "%s p=%d run %d: produce %v\n%s p=%d run %d: consume %v\n", t, p, i+1, pr, t, p, i+1, cr)
				k := key{t, p}
				prod[k], cons[k] = append(prod[k], pr), append(cons[k], cr)
			}
		}
	}
	var rows []row
	for _, t := range tgts {
		for _, p := range partitions {
			k := key{t, p}
			rows = append(rows, summarize(t, p, "produce", prod[k]), summarize(t, p, "consume", cons[k]))
		}
	}

	table := render(rows, *runs)
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			log.Print(err)
			exit = 1
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
	if err = checkEndOffsets(ctx, o); err != nil {
		return prod, cons, err
	}
	if cons, err = loadgen.Consume(ctx, o); err != nil {
		return prod, cons, fmt.Errorf("consume: %w", err)
	}
	if cons.Records != prod.Records || cons.Bytes != prod.Bytes {
		return prod, cons, fmt.Errorf("consumed %d records (%d bytes), produced %d (%d bytes)", cons.Records, cons.Bytes, prod.Records, prod.Bytes)
	}
	return prod, cons, nil
}

// checkEndOffsets verifies that the partitions' end offsets add up to the
// records acknowledged: none lost, none written twice.
func checkEndOffsets(ctx context.Context, o loadgen.Options) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, o.Topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	var sum int64
	var perr error
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil && perr == nil {
			perr = fmt.Errorf("end offset of %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		sum += e.Offset
	})
	if perr != nil {
		return perr
	}
	if sum != int64(o.Records) {
		return fmt.Errorf("end offsets add up to %d after %d acknowledged records", sum, o.Records)
	}
	return nil
}

type row struct {
	target     string
	partitions int
	phase      string
	records    int64
	mbps       float64
	mbpsMin    float64
	mbpsMax    float64
	rps        float64
	p50, p99   time.Duration
	hasLatency bool
	runs       int
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
		records:    rs[0].Records,
		mbps:       median(mb),
		mbpsMin:    slices.Min(mb),
		mbpsMax:    slices.Max(mb),
		rps:        median(pick(func(r loadgen.Result) float64 { return r.RecordsPerSec })),
		p50:        median(pickD(func(r loadgen.Result) time.Duration { return r.Latency.P50 })),
		p99:        median(pickD(func(r loadgen.Result) time.Duration { return r.Latency.P99 })),
		hasLatency: phase == "produce",
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
