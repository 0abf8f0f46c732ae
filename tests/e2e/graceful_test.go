package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGracefulShutdown stops weir with SIGTERM while a producer is writing:
// it must exit 0 promptly, having uploaded everything the WAL held, and
// after a restart every acknowledged record is there.
func TestGracefulShutdown(t *testing.T) {
	const (
		topic      = "graceful"
		parts      = 3
		segBytes   = 128 << 10
		preloadN   = 20000
		valueBytes = 100
	)
	// Nothing is uploaded on a timer (weir.upload.interval.ms is far away
	// and weir.upload.bytes above what the test writes), so only the
	// shutdown itself can empty the WAL; small WAL segments let it trim
	// them.
	b := StartBroker(t, BrokerOptions{Sets: []string{
		"weir.upload.interval.ms=600000",
		"weir.upload.bytes=1073741824",
		fmt.Sprintf("weir.wal.segment.bytes=%d", segBytes),
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := b.Admin(t)
	if resp, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}

	// Preload with a synchronous producer: these records are certainly
	// acknowledged before the shutdown starts.
	acks := newAckLog()
	pre := b.Client(t,
		kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)
	pad := strings.Repeat("p", valueBytes-len("pre-000000000-"))
	var payload int64
	recs := make([]*kgo.Record, preloadN)
	for i := range recs {
		recs[i] = &kgo.Record{Value: fmt.Appendf(nil, "pre-%09d-%s", i, pad)}
		payload += int64(len(recs[i].Value))
	}
	results := pre.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		t.Fatalf("preload: %v", err)
	}
	for _, r := range results {
		acks.add(t, string(r.Record.Value), loc{r.Record.Partition, r.Record.Offset})
	}
	pre.Close()
	walBefore, walFilesBefore := dirSize(t, filepath.Join(b.DataDir, "wal"))
	objBefore, _ := dirSize(t, filepath.Join(b.DataDir, "objects"))
	t.Logf("before SIGTERM: wal %d bytes in %d files, objects %d bytes (payload %d bytes)", walBefore, walFilesBefore, objBefore, payload)
	if walBefore < payload {
		t.Errorf("WAL holds %d bytes, less than the %d bytes of payload acknowledged", walBefore, payload)
	}

	// SIGTERM while records are in flight.
	l := startLoad(t, b, topic, "live", 2, 5000, acks)
	l.waitAcks(2000, 30*time.Second)
	code, took := b.Stop(t, syscall.SIGTERM, 30*time.Second)
	l.stop()
	t.Logf("SIGTERM: exit code %d after %v; %d records acknowledged in all", code, took.Round(time.Millisecond), acks.n.Load())
	if code != 0 {
		t.Errorf("weir exited with code %d after SIGTERM, want 0", code)
	}
	if took > 10*time.Second {
		t.Errorf("weir took %v to exit after SIGTERM, want < 10s", took)
	}

	// Everything was uploaded: the WAL keeps at most its active segment
	// (whole segments are trimmed) and the objects hold the payload.
	// Trimmed segments kept for reuse (free-*.log, see internal/storage/wal)
	// hold no live data and are not counted.
	walAfter, walFiles := liveWALSize(t, filepath.Join(b.DataDir, "wal"))
	objAfter, objFiles := dirSize(t, filepath.Join(b.DataDir, "objects"))
	t.Logf("after SIGTERM: wal %d bytes in %d files, objects %d bytes in %d files", walAfter, walFiles, objAfter, objFiles)
	if walAfter > 2*segBytes || walFiles > 1 {
		entries, _ := os.ReadDir(filepath.Join(b.DataDir, "wal"))
		var names []string
		for _, e := range entries {
			info, _ := e.Info()
			names = append(names, fmt.Sprintf("%s (%d bytes)", e.Name(), info.Size()))
		}
		t.Errorf("after a graceful shutdown the WAL still holds %d bytes in %d files (segments of %d bytes; want at most the active one): %v",
			walAfter, walFiles, segBytes, names)
	}
	if objFiles == 0 || objAfter < payload {
		t.Errorf("objects hold %d bytes in %d files after shutdown, want at least the %d bytes of payload", objAfter, objFiles, payload)
	}

	b.Restart(t)
	// weir logs how many WAL batches it replayed; after a graceful
	// shutdown there is nothing left to replay.
	if m := regexp.MustCompile(`msg="wal replayed" batches=(\d+)`).FindAllStringSubmatch(b.Log(), -1); len(m) == 2 {
		if n, _ := strconv.Atoi(m[1][1]); n != 0 {
			t.Errorf("after a graceful shutdown, the restart replayed %d WAL batches not yet uploaded, want 0", n)
		}
	} else {
		t.Logf("no \"wal replayed\" log line per start (found %d); not checking replay", len(m))
	}
	valid := regexp.MustCompile(`^(pre-[0-9]{9}-p+|live-w[0-9]+-[0-9]{9}-x{48})$`).MatchString
	read, unacked := verifyAcked(t, b, topic, acks.snapshot(), valid)
	t.Logf("after restart: read %d records, %d never acknowledged", read, unacked)

	// SIGINT stops it cleanly too.
	if code, took := b.Stop(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Errorf("weir exited with code %d after SIGINT (in %v), want 0", code, took)
	}
}

// liveWALSize is the size and count of dir's WAL segments (wal-*.log),
// leaving out the recycled free segments.
func liveWALSize(t *testing.T, dir string) (int64, int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	var n int
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "wal-") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		size += info.Size()
		n++
	}
	return size, n
}
