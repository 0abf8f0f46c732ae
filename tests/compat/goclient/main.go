// Command goclient runs the scenarios of tests/compat/scenarios.json with a
// Go client: goclient sarama|franz-go SCENARIO, configured by environment
// (BOOTSTRAP, TOPIC, GROUP, CLIENT, TS_BASE, CODEC, WRITER,
// FIXED_TS). Exit 0: passed;
// 77: skipped (reason on stdout); 1: failed (reason on stderr).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// rec is a record as the scenarios see it.
type rec struct {
	Key, Value string
	Headers    [][2]string
	Ts         int64 // milliseconds; 0 when producing: the client's clock
	Offset     int64
}

// client is what a scenario needs from a Kafka client library.
type client interface {
	// produce sends recs to partition 0 of topic in one batch with codec
	// (none, gzip, snappy, lz4, zstd) and waits for the acknowledgement.
	produce(ctx context.Context, topic, codec string, recs []rec) error
	// consume reads n records of partition 0 starting at from (beginning,
	// end, or a millisecond timestamp); ready, if set, is called once the
	// consumer is positioned.
	consume(ctx context.Context, topic string, from string, n int, ready func() error) ([]rec, error)
	// group joins group on topic, reads n records, commits the offset after
	// the n-th and leaves.
	group(ctx context.Context, topic, group string, n int) ([]rec, error)
	// metadata returns the brokers' addresses and, for topic, its partition
	// count and whether every partition's leader is a listed broker.
	metadata(ctx context.Context, topic string) (brokers []string, parts int, leadersOK bool, err error)
	topicExists(ctx context.Context, topic string) (bool, error)
	// createTopic returns alreadyExists for TOPIC_ALREADY_EXISTS.
	createTopic(ctx context.Context, topic string, parts int, configs map[string]string) (alreadyExists bool, err error)
	describeConfig(ctx context.Context, topic, name string) (string, error)
	deleteTopic(ctx context.Context, topic string) error
	close()
}

type skipError string

func (s skipError) Error() string { return string(s) }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goclient sarama|franz-go SCENARIO")
		os.Exit(2)
	}
	bootstrap := os.Getenv("BOOTSTRAP")
	var c client
	var err error
	switch os.Args[1] {
	case "sarama":
		c, err = newSarama(bootstrap)
	case "franz-go":
		c, err = newFranz(bootstrap)
	default:
		err = fmt.Errorf("unknown client %q", os.Args[1])
	}
	if err == nil {
		defer c.close()
		ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
		defer cancel()
		err = runScenario(ctx, c, os.Args[2], bootstrap)
	}
	if s, ok := err.(skipError); ok {
		fmt.Println(string(s))
		os.Exit(77)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", os.Args[1], os.Args[2], err)
		os.Exit(1)
	}
}

func runScenario(ctx context.Context, c client, scenario, bootstrap string) error {
	topic, group, clientName := os.Getenv("TOPIC"), os.Getenv("GROUP"), os.Getenv("CLIENT")
	switch {
	case scenario == "metadata":
		if err := c.produce(ctx, topic, "none", []rec{{Key: "k", Value: "v"}}); err != nil {
			return err
		}
		brokers, parts, leadersOK, err := c.metadata(ctx, topic)
		if err != nil {
			return err
		}
		if !contains(brokers, bootstrap) {
			return fmt.Errorf("brokers %v do not include %s", brokers, bootstrap)
		}
		if parts != 1 || !leadersOK {
			return fmt.Errorf("topic %s: %d partitions (want 1), leaders known: %v", topic, parts, leadersOK)
		}
		return nil

	case scenario == "admin-topics":
		cfg := map[string]string{"retention.ms": "3600000"}
		if exists, err := c.createTopic(ctx, topic, 3, cfg); err != nil || exists {
			return fmt.Errorf("create: exists %v, %v", exists, err)
		}
		if exists, err := c.createTopic(ctx, topic, 3, cfg); !exists {
			return fmt.Errorf("second create: want TOPIC_ALREADY_EXISTS, got %v", err)
		}
		_, parts, _, err := c.metadata(ctx, topic)
		if err != nil || parts != 3 {
			return fmt.Errorf("metadata: %d partitions (want 3), %v", parts, err)
		}
		v, err := c.describeConfig(ctx, topic, "retention.ms")
		if err != nil || v != "3600000" {
			return fmt.Errorf("describe configs: retention.ms=%q, %v", v, err)
		}
		if err := c.deleteTopic(ctx, topic); err != nil {
			return fmt.Errorf("delete: %v", err)
		}
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			exists, err := c.topicExists(ctx, topic)
			if err == nil && !exists {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("topic still listed 15s after delete (%v)", err)
			}
		}

	case strings.HasPrefix(scenario, "produce-"):
		codec := strings.TrimPrefix(scenario, "produce-")
		var want []rec
		for i := 0; i < 10; i++ {
			want = append(want, rec{
				Key:     fmt.Sprintf("key-%d", i),
				Value:   fmt.Sprintf("value-%d %s", i, strings.Repeat("x", 100)),
				Headers: [][2]string{{"h1", fmt.Sprintf("v1-%d", i)}, {"h2", fmt.Sprintf("v2-%d", i)}},
				Offset:  int64(i),
			})
		}
		if err := c.produce(ctx, topic, codec, want); err != nil {
			return err
		}
		got, err := c.consume(ctx, topic, "beginning", len(want), nil)
		if err != nil {
			return err
		}
		return compare(got, want, false)

	case scenario == "consume-offsets":
		for i := 0; i < 5; i++ {
			if i > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			if err := c.produce(ctx, topic, "none", []rec{{Key: fmt.Sprintf("key-%d", i), Value: fmt.Sprintf("r%d", i)}}); err != nil {
				return err
			}
		}
		got, err := c.consume(ctx, topic, "beginning", 5, nil)
		if err != nil {
			return fmt.Errorf("from beginning: %v", err)
		}
		for i, r := range got {
			if r.Offset != int64(i) || r.Value != fmt.Sprintf("r%d", i) || (i > 0 && r.Ts <= got[i-1].Ts) {
				return fmt.Errorf("from beginning: record %d: %+v (previous timestamp %d)", i, r, got[max(i-1, 0)].Ts)
			}
		}
		fromTs, err := c.consume(ctx, topic, strconv.FormatInt(got[2].Ts, 10), 1, nil)
		if err != nil {
			return fmt.Errorf("from timestamp %d: %v", got[2].Ts, err)
		}
		if fromTs[0].Offset != 2 || fromTs[0].Value != "r2" {
			return fmt.Errorf("from timestamp %d: got %+v, want r2 at offset 2", got[2].Ts, fromTs[0])
		}
		fromEnd, err := c.consume(ctx, topic, "end", 1, func() error {
			return c.produce(ctx, topic, "none", []rec{{Key: "key-5", Value: "r5"}})
		})
		if err != nil {
			return fmt.Errorf("from end: %v", err)
		}
		if fromEnd[0].Offset != 5 || fromEnd[0].Value != "r5" {
			return fmt.Errorf("from end: got %+v, want r5 at offset 5", fromEnd[0])
		}
		return nil

	case scenario == "group-commit-resume":
		var recs []rec
		for i := 0; i < 6; i++ {
			recs = append(recs, rec{Key: fmt.Sprintf("key-%d", i), Value: fmt.Sprintf("g%d", i)})
		}
		if err := c.produce(ctx, topic, "none", recs); err != nil {
			return err
		}
		first, err := c.group(ctx, topic, group, 3)
		if err != nil {
			return fmt.Errorf("first consumer: %v", err)
		}
		second, err := c.group(ctx, topic, group, 3)
		if err != nil {
			return fmt.Errorf("second consumer: %v", err)
		}
		for i, r := range append(first, second...) {
			if r.Offset != int64(i) || r.Value != fmt.Sprintf("g%d", i) {
				return fmt.Errorf("record %d: got %+v (first consumer read %d, second %d)", i, r, len(first), len(second))
			}
		}
		return nil

	case scenario == "interop-write":
		return c.produce(ctx, topic, os.Getenv("CODEC"), interopRecords(clientName, true))

	case scenario == "interop-read":
		want := interopRecords(os.Getenv("WRITER"), os.Getenv("FIXED_TS") == "1")
		got, err := c.consume(ctx, topic, "beginning", len(want), nil)
		if err != nil {
			return err
		}
		return compare(got, want, true)
	}
	return fmt.Errorf("unknown scenario %q", scenario)
}

// interopBaseTs is TS_BASE, set by the harness a minute before the run.
var interopBaseTs, _ = strconv.ParseInt(os.Getenv("TS_BASE"), 10, 64)

func interopRecords(writer string, fixedTs bool) []rec {
	var rs []rec
	for i := 0; i < 5; i++ {
		r := rec{
			Key:     fmt.Sprintf("key-%d", i),
			Value:   fmt.Sprintf("%s value %d", writer, i),
			Headers: [][2]string{{"origin", writer}, {"index", strconv.Itoa(i)}},
			Offset:  int64(i),
		}
		if fixedTs {
			r.Ts = interopBaseTs + 1000*int64(i)
		}
		rs = append(rs, r)
	}
	return rs
}

// compare checks got against want; timestamps when checkTs (want.Ts 0:
// later than interopBaseTs).
func compare(got, want []rec, checkTs bool) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key != w.Key || g.Value != w.Value || g.Offset != w.Offset || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
			return fmt.Errorf("record %d: got %+v, want %+v", i, g, w)
		}
		if checkTs && ((w.Ts != 0 && g.Ts != w.Ts) || (w.Ts == 0 && g.Ts <= interopBaseTs)) {
			return fmt.Errorf("record %d: timestamp %d, want %d (0: later than %d)", i, g.Ts, w.Ts, interopBaseTs)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
