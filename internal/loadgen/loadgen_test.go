package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestPercentiles(t *testing.T) {
	var s []time.Duration
	for i := 1000; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	l := percentiles(s)
	want := Latency{P50: 500, P95: 950, P99: 990, P999: 999, Max: 1000}
	if l != want {
		t.Fatalf("percentiles = %+v, want %+v", l, want)
	}
	if (percentiles(nil) != Latency{}) {
		t.Fatal("percentiles(nil) not zero")
	}
	if l := percentiles([]time.Duration{7}); l.P50 != 7 || l.P999 != 7 || l.Max != 7 {
		t.Fatalf("one sample: %+v", l)
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
