package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirdb/weir/internal/loadgen"
)

func newBenchCmd() *cobra.Command {
	var (
		b       loadgen.Bench
		brokers string
		asJSON  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test any Kafka-compatible cluster (produce, consume or end-to-end)",
		Long: `Load-test a Kafka-compatible cluster with franz-go, in the spirit of
kafka-producer-perf-test and rpk.

Modes:
  produce   send records (as fast as possible, or at --rate) and report
            throughput and ack latency (from the intended send time to the
            acknowledgement);
  consume   read the topic from its start (catch-up) with direct consumers
            and report throughput; without --records or --duration it reads
            every record present when it starts;
  e2e       consume from the end while producing, and report both phases
            and end-to-end latency (send time, stamped into the first 8
            bytes of each value, to the consumer's poll).

Give --records or --duration (produce and e2e default to 10s). Values are
random, so compression measures its cost, not its gain. Idempotence is off
by default, so that brokers without InitProducerId (Kafka before 0.11) can
be measured with the same settings; franz-go keeps 1 produce request in
flight per broker without it and 5 with it (see --max-inflight). For brokers
older than Kafka 0.10 (no ApiVersions), pass --protocol-version, e.g. 0.9.0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b.Brokers = splitList(brokers)
			if err := b.Validate(); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			out := cmd.OutOrStdout()
			var progress io.Writer
			if !asJSON && isTerminal(out) {
				progress = out
			}
			rep, err := loadgen.Run(ctx, b, progress)
			if err != nil {
				return fmt.Errorf("bench %s against %s: %w", b.Mode, brokers, err)
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			_, err = io.WriteString(out, rep.Text())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&brokers, "brokers", "b", "127.0.0.1:9092", "comma-separated bootstrap addresses")
	f.StringVarP(&b.Topic, "topic", "t", "weir-bench", "topic")
	f.StringVarP(&b.Mode, "mode", "m", loadgen.ModeProduce, "produce, consume or e2e")
	f.IntVarP(&b.Records, "records", "n", 0, "records to produce (consume: to read; 0 with no --duration: all present)")
	f.DurationVarP(&b.Duration, "duration", "d", 0, "run for this long instead of a record count")
	f.IntVarP(&b.RecordSize, "record-size", "s", 1024, "value bytes per record")
	f.IntVarP(&b.Partitions, "partitions", "p", 1, "partitions of the topic when --create-topic creates it")
	f.BoolVar(&b.CreateTopic, "create-topic", false, "create the topic first (replication factor 1); an existing one is kept")
	f.StringVar(&b.Acks, "acks", "all", "all (-1), 1 or 0")
	f.StringVarP(&b.Compression, "compression", "z", "none", "none, gzip, snappy, lz4 or zstd")
	f.BoolVar(&b.Idempotent, "idempotent", false, "idempotent producer (needs InitProducerId on the broker and acks=all)")
	f.DurationVar(&b.Linger, "linger", 10*time.Millisecond, "producer linger (0: send batches at once)")
	f.Float64VarP(&b.Rate, "rate", "r", 0, "target produce rate in records/s over all clients (0: unlimited)")
	f.IntVarP(&b.Clients, "clients", "c", 1, "concurrent clients (records and rate are split between producers, partitions between consumers)")
	f.IntVar(&b.MaxInflight, "max-inflight", 0, "produce requests in flight per broker (0: franz-go default, 1 without idempotence)")
	f.StringVar(&b.ProtocolVersion, "protocol-version", "", "cap request versions at a Kafka release, e.g. 0.9.0 (needed before 0.10)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON (and no progress line)")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		// --linger 0 means "no linger" to the user, while loadgen's zero
		// value means "franz-go default": map it to loadgen's negative.
		switch {
		case b.Linger < 0:
			return fmt.Errorf("bench: --linger %v: must not be negative", b.Linger)
		case b.Linger == 0:
			b.Linger = -1
		}
		return nil
	}
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isTerminal reports whether w is a character device (a terminal), so that
// the carriage-return progress line never ends up in a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
