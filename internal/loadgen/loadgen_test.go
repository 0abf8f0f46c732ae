package loadgen

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestHistogramExactSmall(t *testing.T) {
	var h Histogram
	for i := 100; i >= 1; i-- {
		h.Record(time.Duration(i))
	}
	want := Latency{P50: 50, P95: 95, P99: 99, P999: 100, Max: 100}
	if l := h.Latency(); l != want {
		t.Fatalf("latency = %+v, want %+v", l, want)
	}
	var empty Histogram
	if (empty.Latency() != Latency{}) || empty.Quantile(0.5) != 0 {
		t.Fatal("empty histogram not zero")
	}
	var one Histogram
	one.Record(7 * time.Millisecond)
	if l := one.Latency(); l.P50 != 7*time.Millisecond || l.P999 != 7*time.Millisecond || l.Max != 7*time.Millisecond {
		t.Fatalf("one sample: %+v", l)
	}
	var neg Histogram
	neg.Record(-time.Second)
	if neg.Latency().Max != 0 {
		t.Fatal("negative sample not counted as zero")
	}
}

// The histogram's percentiles are never below the exact nearest-rank
// percentile and at most 1/128 above it.
func TestHistogramAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []float64{1e3, 1e6, 1e9} {
		var h Histogram
		samples := make([]time.Duration, 20000)
		for i := range samples {
			samples[i] = time.Duration(r.ExpFloat64() * scale)
			h.Record(samples[i])
		}
		slices.Sort(samples)
		for _, q := range []float64{0.5, 0.95, 0.99, 0.999, 1} {
			exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
			got := h.Quantile(q)
			if got < exact || float64(got-exact) > float64(exact)/128+1 {
				t.Errorf("scale %g q %g: got %v, exact %v", scale, q, got, exact)
			}
		}
		if h.Latency().Max != samples[len(samples)-1] {
			t.Errorf("max %v, want %v", h.Latency().Max, samples[len(samples)-1])
		}
	}
}

func TestBuckets(t *testing.T) {
	// Every bucket's high bound maps back to it, and the next value to the
	// next bucket: buckets tile the values without gaps.
	for b := 0; b < histBuckets-1; b++ {
		hi := bucketHigh(b)
		if hi < 0 || hi == math.MaxInt64 {
			break
		}
		if bucketOf(hi) != b || bucketOf(hi+1) != b+1 {
			t.Fatalf("bucket %d: high %d maps to %d, next to %d", b, hi, bucketOf(hi), bucketOf(hi+1))
		}
	}
}

func TestPacerSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	var slept []time.Duration
	p := NewPacer(1000, start) // one record per millisecond
	p.now = func() time.Time { return now }
	p.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	ctx := context.Background()
	for i := range 3 {
		due, err := p.Wait(ctx)
		if err != nil || !due.Equal(start.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("record %d due %v (%v)", i, due.Sub(start), err)
		}
	}
	if !slices.Equal(slept, []time.Duration{time.Millisecond, time.Millisecond}) {
		t.Fatalf("slept %v", slept)
	}
	// A sender 5 ms late sends the records it owes without sleeping, and
	// their intended times stay on the schedule.
	now = now.Add(5 * time.Millisecond)
	slept = nil
	for i := 3; i < 8; i++ {
		due, _ := p.Wait(ctx)
		if !due.Equal(start.Add(time.Duration(i) * time.Millisecond)) {
			t.Fatalf("record %d due %v", i, due.Sub(start))
		}
	}
	if len(slept) != 0 {
		t.Fatalf("slept %v while behind", slept)
	}
	if _, err := p.Wait(ctx); err != nil || len(slept) != 1 {
		t.Fatalf("caught up: slept %v, err %v", slept, err)
	}

	unpaced := NewPacer(0, start)
	unpaced.now = func() time.Time { return now }
	if due, _ := unpaced.Wait(ctx); !due.Equal(now) {
		t.Fatal("unpaced pacer does not return now")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewPacer(1, time.Now().Add(time.Hour)).Wait(cctx); err == nil {
		t.Fatal("Wait ignored a cancelled context")
	}
}

func TestPacerRealClock(t *testing.T) {
	const rate, n = 2000.0, 200 // 100 ms
	start := time.Now()
	p := NewPacer(rate, start)
	for range n {
		if _, err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	// The last record is due at 99.5 ms; a busy machine may be late, never
	// early.
	if el < 99*time.Millisecond || el > 2*time.Second {
		t.Fatalf("%d records at %v/s took %v", n, rate, el)
	}
}

func TestBenchValidate(t *testing.T) {
	ok := Bench{Mode: ModeProduce, Options: Options{Brokers: []string{"x:1"}, Topic: "t"}}
	b := ok
	if err := b.Validate(); err != nil || b.Duration != DefaultDuration || b.RecordSize != 1024 || b.Clients != 1 {
		t.Fatalf("defaults: %+v, %v", b, err)
	}
	b = ok
	b.Mode = ModeConsume
	if err := b.Validate(); err != nil || b.Duration != 0 {
		t.Fatalf("consume defaults: %+v, %v", b, err)
	}
	b = ok
	b.Mode = "end-to-end"
	if err := b.Validate(); err != nil || b.Mode != ModeE2E {
		t.Fatalf("end-to-end alias: %+v, %v", b, err)
	}
	for name, c := range map[string]struct {
		edit func(*Bench)
		want string
	}{
		"mode":         {func(b *Bench) { b.Mode = "fetch" }, "mode"},
		"no brokers":   {func(b *Bench) { b.Brokers = nil }, "brokers"},
		"no topic":     {func(b *Bench) { b.Topic = "" }, "topic"},
		"both":         {func(b *Bench) { b.Records, b.Duration = 5, time.Second }, "exclusive"},
		"neg records":  {func(b *Bench) { b.Records = -1 }, "records"},
		"neg rate":     {func(b *Bench) { b.Rate = -1 }, "rate"},
		"consume rate": {func(b *Bench) { b.Mode, b.Rate = ModeConsume, 10 }, "rate"},
		"acks":         {func(b *Bench) { b.Acks = "2" }, "acks"},
		"idem acks":    {func(b *Bench) { b.Idempotent, b.Acks = true, "1" }, "idempotent"},
		"compression":  {func(b *Bench) { b.Compression = "brotli" }, "compression"},
		"clients":      {func(b *Bench) { b.Clients = -2 }, "clients"},
		"partitions":   {func(b *Bench) { b.Partitions = -2 }, "partitions"},
		"inflight":     {func(b *Bench) { b.MaxInflight = -1 }, "in-flight"},
		"protocol":     {func(b *Bench) { b.ProtocolVersion = "0.7.1" }, "protocol"},
		"e2e size":     {func(b *Bench) { b.Mode, b.RecordSize = ModeE2E, 4 }, "8 bytes"},
	} {
		b := ok
		c.edit(&b)
		err := b.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", name, err, c.want)
		}
	}
	b = ok
	b.ProtocolVersion = "0.9.0"
	if err := b.Validate(); err != nil {
		t.Fatalf("protocol 0.9.0: %v", err)
	}
}

func TestProduceConsumeKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := Options{
		Brokers: c.ListenAddrs(), Topic: "lg", Partitions: 3, CreateTopic: true,
		Records: 3000, RecordSize: 100, Clients: 2, Linger: time.Millisecond,
	}
	pr, err := Produce(ctx, o)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if pr.Records != 3000 || pr.Bytes != 300000 || pr.Latency.Max <= 0 || pr.Latency.P50 > pr.Latency.P99 {
		t.Fatalf("produce result: %+v", pr)
	}
	t.Log("produce:", pr)

	for _, records := range []int{3000, 0} {
		co := o
		co.Records = records
		cr, err := Consume(ctx, co)
		if err != nil {
			t.Fatalf("consume %d: %v", records, err)
		}
		if cr.Records != 3000 || cr.Bytes != 300000 {
			t.Fatalf("consume %d result: %+v", records, cr)
		}
		t.Log("consume:", cr)
	}

	// End to end at a paced rate: 2000 records at 10,000/s take about
	// 200 ms, and every one comes back with a latency.
	eo := o
	eo.Records, eo.Rate = 2000, 10000
	start := time.Now()
	pr, cr, err := EndToEnd(ctx, eo)
	if err != nil {
		t.Fatalf("end to end: %v", err)
	}
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Errorf("paced run took %v, want about 200ms", el)
	}
	if pr.Records != 2000 || cr.Records != 2000 || cr.Latency.Max <= 0 {
		t.Fatalf("end to end: produce %+v, consume %+v", pr, cr)
	}
	t.Log("e2e produce:", pr, "consume:", cr)

	// By duration.
	do := o
	do.Records, do.Duration, do.Rate = 0, 300*time.Millisecond, 5000
	pr, err = Produce(ctx, do)
	if err != nil {
		t.Fatalf("produce by duration: %v", err)
	}
	if pr.Records < 1000 || pr.Records > 1600 {
		t.Fatalf("300ms at 5000/s produced %d records", pr.Records)
	}
}

func TestOptionErrors(t *testing.T) {
	ctx := context.Background()
	for _, o := range []Options{
		{Topic: "t", Records: 1},
		{Brokers: []string{"127.0.0.1:1"}, Records: 1},
		{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Records: 1, Acks: "2"},
		{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Records: 1, Compression: "brotli"},
		{Brokers: []string{"127.0.0.1:1"}, Topic: "t"},
	} {
		if _, err := Produce(ctx, o); err == nil {
			t.Errorf("Produce(%+v) succeeded", o)
		}
	}
}

func TestIdempotenceCheckKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "idem"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// kfake supports InitProducerId, so the check passes.
	if _, err := Produce(ctx, Options{Brokers: c.ListenAddrs(), Topic: "idem", Records: 10, Idempotent: true}); err != nil {
		t.Fatal(err)
	}
}

func TestProgressLine(t *testing.T) {
	var (
		mu  sync.Mutex
		buf strings.Builder
	)
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	var c Counters
	c.Acked.Store(2048)
	c.Consumed.Store(1024)
	stop := startProgress(w, ModeE2E, &c, 1024)
	// The line is written once a second; a loaded machine may be late.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		printed := strings.Contains(buf.String(), "acked")
		mu.Unlock()
		if printed {
			break
		}
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	s := buf.String()
	if !strings.Contains(s, "acked 2048 (2048 rec/s, 2.0 MiB/s)") || !strings.Contains(s, "consumed 1024") ||
		!strings.HasPrefix(s, "\r") || !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("progress output %q", s)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
