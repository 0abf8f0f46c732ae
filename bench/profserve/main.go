// Command profserve runs one Weir broker (config.Default, as `weir serve`
// runs it) in this process with a CPU profile on, until SIGINT or SIGTERM,
// so that a `weir bench` run in another process profiles the broker alone,
// not the client:
//
//	go run ./bench/profserve -listen 127.0.0.1:39192 -cpuprofile weir.prof &
//	weir bench -b 127.0.0.1:39192 --create-topic -p 8 -n 2000000 -s 100
//	kill -INT %1; go tool pprof -top weir.prof
//
// (`weir serve` has no pprof endpoint, and bench/throughput profiles broker
// and client together.)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:39192", "Kafka listen address")
	dataDir := flag.String("data-dir", "", "data dir (default: a temporary one, removed on exit)")
	cpuprofile := flag.String("cpuprofile", "weir.prof", "CPU profile to write")
	flag.Parse()
	dir := *dataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "weir-profserve-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	f, err := os.Create(*cpuprofile)
	if err != nil {
		return err
	}
	defer f.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.Start(ctx, node.Options{Config: config.Default(), Listen: *listen, DataDir: dir, Logger: log})
	if err != nil {
		return fmt.Errorf("start weir: %w", err)
	}
	// Start-up (embedded etcd, WAL replay) is not what is being profiled.
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("start profile: %w", err)
	}
	fmt.Println(n.Addr())
	<-ctx.Done()
	pprof.StopCPUProfile()
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Close(cctx); err != nil {
		return fmt.Errorf("close weir: %w", err)
	}
	return nil
}
