package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/node"
)

func newServeCmd() *cobra.Command {
	var (
		listen, advertise, dataDir, configFile, logLevel string
		sets                                             []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker (with no flags: a complete single-node cluster in ./weir-data)",
		Long: `Run a Weir broker.

With no flags, weir serve listens on 127.0.0.1:9092 and keeps everything under
./weir-data: the file WAL, the filesystem object store and an embedded
single-node etcd. Broker settings use Kafka's names and are given in a YAML
file (--config) or one by one (--set name=value, repeatable, overriding the
file). See README.md for the settings reference.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("invalid --log-level %q: %w", logLevel, err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(log)

			cfg, err := config.Load(configFile, sets)
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("listen") {
				cfg.Listen = listen
			}
			if flags.Changed("advertise") {
				cfg.Advertise = advertise
			}
			if flags.Changed("data-dir") {
				cfg.DataDir = dataDir
			}
			if s := cfg.ExplicitString(); s != "" {
				log.Info("settings", "explicit", s)
			}
			if limit, ok := memoryLimit(cfg); ok {
				debug.SetMemoryLimit(limit)
				log.Info("memory limit", "bytes", limit)
			}

			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := node.Start(ctx, node.Options{
				Config:    cfg,
				Listen:    cfg.Listen,
				Advertise: advertiseFor(cfg),
				DataDir:   cfg.DataDir,
				Logger:    log,
			})
			if err != nil {
				return err
			}
			<-ctx.Done()
			log.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := n.Close(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", config.DefaultListen, "address to accept Kafka clients on (HOST:PORT)")
	f.StringVar(&advertise, "advertise", "", "address given to clients in metadata (default: the listen address)")
	f.StringVar(&dataDir, "data-dir", config.DefaultDataDir, "directory for the WAL, the filesystem object store and embedded etcd")
	f.StringVar(&configFile, "config", "", "YAML file of broker settings (Kafka names)")
	f.StringArrayVar(&sets, "set", nil, "broker setting name=value (repeatable; overrides --config)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// memoryLimit is the Go soft memory limit for a broker with cfg: what its
// caches and not-yet-uploaded data may hold plus a fixed overhead. Without
// it the heap grows to twice the live data before each collection (GOGC),
// so resident memory tracks the traffic instead of the configured sizes.
// ok is false when GOMEMLIMIT is set (the operator's choice wins) or the
// overhead setting is 0 (no limit).
func memoryLimit(cfg *config.Broker) (limit int64, ok bool) {
	overhead := cfg.Long("weir.memory.overhead.bytes")
	if os.Getenv("GOMEMLIMIT") != "" || overhead == 0 {
		return 0, false
	}
	return cfg.Long("weir.log.cache.bytes") + cfg.Long("weir.block.cache.bytes") +
		cfg.Long("weir.pending.max.bytes") + overhead, true
}

// advertiseFor returns the address to advertise: the configured one, else
// the listen address, with a wildcard host replaced by 127.0.0.1 so that
// clients are never told to connect to 0.0.0.0.
func advertiseFor(cfg *config.Broker) string {
	if cfg.Advertise != "" {
		return cfg.Advertise
	}
	a := cfg.Listen
	switch {
	case strings.HasPrefix(a, ":"):
		return "127.0.0.1" + a
	case strings.HasPrefix(a, "0.0.0.0:"):
		return "127.0.0.1" + strings.TrimPrefix(a, "0.0.0.0")
	case strings.HasPrefix(a, "[::]:"):
		return "127.0.0.1" + strings.TrimPrefix(a, "[::]")
	}
	return a
}
