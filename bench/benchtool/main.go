// Command benchtool holds the pieces of bench/run.sh that are easier in Go
// than in shell:
//
//	benchtool tcp    -out F [-duration 3s] [-chunk 1048576]
//	    loopback TCP throughput into a sink that discards (the network limit)
//	benchtool fsync  -out F -dir D [-duration 3s] [-chunk 1048576]
//	    sequential writes, each followed by fsync (the WAL's disk limit)
//	benchtool record -out F -target T -size S -partitions P -phase X -run N
//	    append the `weir bench --json` report read from stdin, tagged
//	benchtool rate   -in F -size S -partitions P [-factor 0.5]
//	    print factor × Weir's median produce records/s
//	benchtool delete-topic -brokers B -topic T
//	benchtool report -in F -md docs/benchmarks.md -png docs/benchmarks.png ...
//	    write the Markdown page and its chart from the results
//
// Results are JSON lines (one per measurement), so that a long run can be
// re-rendered, or inspected with jq, after the fact.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirdb/weir/internal/loadgen"
)

// line is one measurement in the results file.
type line struct {
	Target     string          `json:"target"`
	Size       int             `json:"size,omitempty"`
	Partitions int             `json:"partitions,omitempty"`
	Phase      string          `json:"phase"` // produce, catchup, tail, latency; tcp, fsync for limits
	Run        int             `json:"run,omitempty"`
	At         time.Time       `json:"at"`
	Report     *loadgen.Report `json:"report,omitempty"`
	Limit      *limit          `json:"limit,omitempty"`
}

// limit is a machine-limit measurement.
type limit struct {
	Chunk     int                    `json:"chunk"`
	Seconds   float64                `json:"seconds"`
	MiBPerSec float64                `json:"mib_per_sec"`
	Ops       int64                  `json:"ops"`
	LatencyMs *loadgen.LatencyReport `json:"latency_ms,omitempty"` // per write+fsync
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool tcp|fsync|record|rate|delete-topic|report [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"tcp": cmdTCP, "fsync": cmdFsync, "record": cmdRecord, "rate": cmdRate,
		"delete-topic": cmdDeleteTopic, "report": cmdReport,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "benchtool: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func appendLine(path string, l line) error {
	if l.At.IsZero() {
		l.At = time.Now().UTC()
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return f.Close()
}

func readLines(path string) ([]line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// cmdTCP measures loopback TCP throughput: one connection, chunk-sized
// writes into a reader that discards. It is what any broker's socket path
// is bounded by on this machine (both ends share the CPUs, as a broker and
// its benchmark client do).
func cmdTCP(args []string) error {
	fs := flag.NewFlagSet("tcp", flag.ExitOnError)
	out := fs.String("out", "", "results file to append to")
	dur := fs.Duration("duration", 3*time.Second, "how long to send")
	chunk := fs.Int("chunk", 1<<20, "bytes per write")
	fs.Parse(args)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	var sinkErr error
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			sinkErr = err
			return
		}
		defer c.Close()
		_, sinkErr = io.Copy(io.Discard, c)
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	buf := make([]byte, *chunk)
	var sent, ops int64
	start := time.Now()
	for time.Since(start) < *dur {
		n, err := c.Write(buf)
		sent += int64(n)
		ops++
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	el := time.Since(start)
	c.Close()
	wg.Wait()
	if sinkErr != nil {
		return fmt.Errorf("sink: %w", sinkErr)
	}
	l := limit{Chunk: *chunk, Seconds: el.Seconds(), MiBPerSec: float64(sent) / (1 << 20) / el.Seconds(), Ops: ops}
	fmt.Printf("tcp sink: %.0f MiB/s (%d B writes)\n", l.MiBPerSec, *chunk)
	return appendLine(*out, line{Target: "limits", Phase: "tcp", Limit: &l})
}

// cmdFsync measures sequential chunk-sized writes each made durable with
// fsync before the next, as a WAL that syncs every group commit does.
func cmdFsync(args []string) error {
	fs := flag.NewFlagSet("fsync", flag.ExitOnError)
	out := fs.String("out", "", "results file to append to")
	dir := fs.String("dir", "", "directory on the data disk")
	dur := fs.Duration("duration", 3*time.Second, "how long to write")
	chunk := fs.Int("chunk", 1<<20, "bytes per write+fsync")
	fs.Parse(args)
	if *dir == "" {
		return errors.New("-dir is required")
	}
	path := filepath.Join(*dir, "fsync-probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, *chunk)
	for i := range buf {
		buf[i] = byte(i * 7) // not zeros, in case the disk layer dedups or compresses
	}
	var h loadgen.Histogram
	var written, ops int64
	start := time.Now()
	for time.Since(start) < *dur {
		t0 := time.Now()
		n, err := f.Write(buf)
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync: %w", err)
		}
		h.Record(time.Since(t0))
		written += int64(n)
		ops++
	}
	el := time.Since(start)
	lat := h.Latency()
	msf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l := limit{Chunk: *chunk, Seconds: el.Seconds(), MiBPerSec: float64(written) / (1 << 20) / el.Seconds(), Ops: ops,
		LatencyMs: &loadgen.LatencyReport{P50: msf(lat.P50), P95: msf(lat.P95), P99: msf(lat.P99), P999: msf(lat.P999), Max: msf(lat.Max)}}
	fmt.Printf("fsync'd writes: %.0f MiB/s (%d B write+fsync, p50 %.2f ms, p99 %.2f ms)\n", l.MiBPerSec, *chunk, l.LatencyMs.P50, l.LatencyMs.P99)
	return appendLine(*out, line{Target: "limits", Phase: "fsync", Limit: &l})
}

func cmdRecord(args []string) error {
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	var l line
	out := fs.String("out", "", "results file to append to")
	fs.StringVar(&l.Target, "target", "", "weir, kfake, kafka-0.9")
	fs.IntVar(&l.Size, "size", 0, "record size")
	fs.IntVar(&l.Partitions, "partitions", 0, "partitions")
	fs.StringVar(&l.Phase, "phase", "", "produce, catchup, tail or latency")
	fs.IntVar(&l.Run, "run", 1, "run number")
	fs.Parse(args)
	var rep loadgen.Report
	if err := json.NewDecoder(os.Stdin).Decode(&rep); err != nil {
		return fmt.Errorf("reading a weir bench --json report from stdin: %w", err)
	}
	l.Report = &rep
	return appendLine(*out, l)
}

func cmdRate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	in := fs.String("in", "", "results file")
	target := fs.String("target", "weir", "target whose peak to use")
	size := fs.Int("size", 0, "record size")
	parts := fs.Int("partitions", 0, "partitions")
	factor := fs.Float64("factor", 0.5, "fraction of the peak")
	fs.Parse(args)
	ls, err := readLines(*in)
	if err != nil {
		return err
	}
	var rates []float64
	for _, l := range ls {
		if l.Target == *target && l.Size == *size && l.Partitions == *parts && l.Phase == "produce" && l.Report != nil && l.Report.Produce != nil {
			rates = append(rates, l.Report.Produce.RecordsPerSec)
		}
	}
	if len(rates) == 0 {
		return fmt.Errorf("no %s produce results for %d B, %d partitions in %s", *target, *size, *parts, *in)
	}
	fmt.Printf("%.0f\n", median(rates)**factor)
	return nil
}

// cmdDeleteTopic deletes a topic so that an in-memory target (kfake) does
// not carry one scenario's records into the next.
func cmdDeleteTopic(args []string) error {
	fs := flag.NewFlagSet("delete-topic", flag.ExitOnError)
	brokers := fs.String("brokers", "", "bootstrap address")
	topic := fs.String("topic", "", "topic")
	fs.Parse(args)
	cl, err := kgo.NewClient(kgo.SeedBrokers(*brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).DeleteTopic(ctx, *topic); err != nil {
		return fmt.Errorf("delete %s: %w", *topic, err)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
