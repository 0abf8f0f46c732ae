package loadgen

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Modes of a Bench run.
const (
	ModeProduce = "produce"
	ModeConsume = "consume"
	ModeE2E     = "e2e"
)

// DefaultDuration bounds a produce or end-to-end run given neither a
// record count nor a duration, so that a bare `weir bench` ends.
const DefaultDuration = 10 * time.Second

// Bench is one `weir bench` run: a mode and its options.
type Bench struct {
	Mode string
	Options
}

// Validate checks the run and fills in defaults.
func (b *Bench) Validate() error {
	switch b.Mode {
	case ModeProduce, ModeConsume, ModeE2E:
	case "end-to-end":
		b.Mode = ModeE2E
	default:
		return fmt.Errorf("mode %q: want produce, consume or e2e", b.Mode)
	}
	if err := b.Options.Validate(); err != nil {
		return err
	}
	if b.Mode != ModeConsume && b.Records == 0 && b.Duration == 0 {
		b.Duration = DefaultDuration
	}
	if b.Mode == ModeConsume && b.Rate > 0 {
		return fmt.Errorf("rate %v: only producing is paced, not mode consume", b.Rate)
	}
	if b.Mode == ModeE2E && b.RecordSize < 8 {
		return fmt.Errorf("record size %d: end-to-end mode stamps the send time into the first 8 bytes", b.RecordSize)
	}
	return nil
}

// Report is the outcome of a Bench run, as printed by `weir bench --json`.
type Report struct {
	Mode     string         `json:"mode"`
	Settings ReportSettings `json:"settings"`
	Produce  *PhaseReport   `json:"produce,omitempty"`
	Consume  *PhaseReport   `json:"consume,omitempty"`
}

// ReportSettings echo the options that shape the numbers.
type ReportSettings struct {
	Brokers         []string `json:"brokers"`
	Topic           string   `json:"topic"`
	Partitions      int      `json:"partitions,omitempty"` // only when the run created the topic
	Records         int      `json:"records,omitempty"`
	DurationSec     float64  `json:"duration_sec,omitempty"`
	RecordSize      int      `json:"record_size,omitempty"` // not for consume: records are as written
	Acks            string   `json:"acks"`
	Compression     string   `json:"compression"`
	Idempotent      bool     `json:"idempotent"`
	LingerMs        float64  `json:"linger_ms"`
	Rate            float64  `json:"rate,omitempty"`
	Clients         int      `json:"clients"`
	MaxInflight     int      `json:"max_inflight,omitempty"`
	ProtocolVersion string   `json:"protocol_version,omitempty"`
}

// PhaseReport is one phase (produce or consume) of a Report.
type PhaseReport struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MiBPerSec     float64 `json:"mib_per_sec"`
	// LatencyKind is "ack" (produce call to acknowledgement) or
	// "end-to-end" (produce call to consumer poll).
	LatencyKind string         `json:"latency_kind,omitempty"`
	LatencyMs   *LatencyReport `json:"latency_ms,omitempty"`
}

// LatencyReport holds percentiles in milliseconds.
type LatencyReport struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func phaseReport(r Result, latencyKind string) *PhaseReport {
	p := &PhaseReport{
		Records: r.Records, Bytes: r.Bytes, Seconds: r.Duration.Seconds(),
		RecordsPerSec: r.RecordsPerSec, MiBPerSec: r.MBPerSec,
	}
	if latencyKind != "" && r.Latency.Max > 0 {
		f := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		l := r.Latency
		p.LatencyKind = latencyKind
		p.LatencyMs = &LatencyReport{P50: f(l.P50), P95: f(l.P95), P99: f(l.P99), P999: f(l.P999), Max: f(l.Max)}
	}
	return p
}

// Run validates b, runs it and reports. With progress set, a progress
// line is rewritten on it every second (meant for a terminal).
func Run(ctx context.Context, b Bench, progress io.Writer) (Report, error) {
	if err := b.Validate(); err != nil {
		return Report{}, err
	}
	if b.Counters == nil {
		b.Counters = &Counters{}
	}
	rep := Report{Mode: b.Mode, Settings: ReportSettings{
		Brokers: b.Brokers, Topic: b.Topic, Records: b.Records, DurationSec: b.Duration.Seconds(),
		RecordSize: b.RecordSize, Acks: normAcks(b.Acks), Compression: strings.ToLower(b.Compression),
		Idempotent: b.Idempotent, LingerMs: lingerMs(b.Linger), Rate: b.Rate, Clients: b.Clients,
		MaxInflight: b.MaxInflight, ProtocolVersion: b.ProtocolVersion,
	}}
	if rep.Settings.Compression == "" {
		rep.Settings.Compression = "none"
	}
	if b.CreateTopic {
		rep.Settings.Partitions = b.Partitions
	}
	if b.Mode == ModeConsume {
		rep.Settings.RecordSize = 0
	}
	if progress != nil {
		stop := startProgress(progress, b.Mode, b.Counters, b.RecordSize)
		defer stop()
	}
	switch b.Mode {
	case ModeProduce:
		r, err := Produce(ctx, b.Options)
		if err != nil {
			return rep, err
		}
		rep.Produce = phaseReport(r, "ack")
	case ModeConsume:
		r, err := Consume(ctx, b.Options)
		if err != nil {
			return rep, err
		}
		rep.Consume = phaseReport(r, "")
	case ModeE2E:
		pr, cr, err := EndToEnd(ctx, b.Options)
		if err != nil {
			return rep, err
		}
		rep.Produce = phaseReport(pr, "ack")
		rep.Consume = phaseReport(cr, "end-to-end")
	}
	return rep, nil
}

func normAcks(a string) string {
	if a == "" || a == "-1" {
		return "all"
	}
	return strings.ToLower(a)
}

// lingerMs is the effective linger: franz-go's default of 10ms for 0.
func lingerMs(d time.Duration) float64 {
	switch {
	case d == 0:
		return 10
	case d < 0:
		return 0
	}
	return float64(d) / float64(time.Millisecond)
}

// startProgress rewrites one line on w every second with the totals and
// the rates over the last second; the returned func erases it.
func startProgress(w io.Writer, mode string, c *Counters, size int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		var lastAcked, lastCons int64
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				acked, cons := c.Acked.Load(), c.Consumed.Load()
				line := fmt.Sprintf("%5.0fs", now.Sub(start).Seconds())
				if mode != ModeConsume {
					line += fmt.Sprintf("  acked %d (%s)", acked, rate(acked-lastAcked, size))
				}
				if mode != ModeProduce {
					line += fmt.Sprintf("  consumed %d (%s)", cons, rate(cons-lastCons, size))
				}
				lastAcked, lastCons = acked, cons
				fmt.Fprint(w, "\r\033[K"+line)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func rate(n int64, size int) string {
	return fmt.Sprintf("%d rec/s, %.1f MiB/s", n, float64(n)*float64(size)/(1<<20))
}

// Text renders the report for people.
func (r Report) Text() string {
	var b strings.Builder
	s := r.Settings
	if r.Mode == ModeConsume {
		fmt.Fprintf(&b, "mode consume, topic %s, %d client(s)", s.Topic, s.Clients)
	} else {
		fmt.Fprintf(&b, "mode %s, topic %s, %d B records, acks=%s, compression %s, idempotence %v, linger %gms, %d client(s)",
			r.Mode, s.Topic, s.RecordSize, s.Acks, s.Compression, s.Idempotent, s.LingerMs, s.Clients)
	}
	if s.Rate > 0 {
		fmt.Fprintf(&b, ", target %.0f records/s", s.Rate)
	}
	b.WriteString("\n")
	phase := func(name string, p *PhaseReport) {
		if p == nil {
			return
		}
		fmt.Fprintf(&b, "%-8s %d records, %.1f MiB in %.2fs: %.0f records/s, %.2f MiB/s\n",
			name+":", p.Records, float64(p.Bytes)/(1<<20), p.Seconds, p.RecordsPerSec, p.MiBPerSec)
		if l := p.LatencyMs; l != nil {
			fmt.Fprintf(&b, "         %s latency ms: p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
				p.LatencyKind, l.P50, l.P95, l.P99, l.P999, l.Max)
		}
	}
	phase("produce", r.Produce)
	phase("consume", r.Consume)
	return b.String()
}
