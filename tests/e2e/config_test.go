package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInvalidConfigStopsStartup checks that an unknown or invalid setting
// stops `weir serve` before anything starts: a non-zero exit, a message
// naming the setting, nothing listening and no data directory created.
func TestInvalidConfigStopsStartup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		yaml  string // written to a file passed with --config
		names string // the message must contain this
	}{
		{name: "NotAnInt", args: []string{"--set", "num.partitions=abc"}, names: "num.partitions"},
		{name: "OutOfRange", args: []string{"--set", "num.partitions=0"}, names: "num.partitions"},
		{name: "Unknown", args: []string{"--set", "no.such.setting=1"}, names: "no.such.setting"},
		{name: "NotABool", args: []string{"--set", "auto.create.topics.enable=maybe"}, names: "auto.create.topics.enable"},
		{name: "NoEquals", args: []string{"--set", "num.partitions"}, names: "num.partitions"},
		{name: "ConfigFile", yaml: "num.partitions: abc\n", names: "num.partitions"},
		{name: "ConfigFileOverriddenBySet", yaml: "num.partitions: 3\n", args: []string{"--set", "log.retention.ms=soon"}, names: "log.retention.ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dataDir := filepath.Join(dir, "data")
			addr := freeAddr(t)
			args := []string{"serve", "--listen", addr, "--data-dir", dataDir}
			if tc.yaml != "" {
				cfg := filepath.Join(dir, "weir.yaml")
				if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", cfg)
			}
			args = append(args, tc.args...)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, weirBin, args...)
			cmd.SysProcAttr = childProcAttr()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			t.Logf("weir %s: %v after %v:\n%s", shellJoin(args), err, took.Round(time.Millisecond), out.String())
			var exit *exec.ExitError
			switch {
			case ctx.Err() != nil:
				t.Fatalf("weir still running after 20s with an invalid setting")
			case err == nil:
				t.Fatalf("weir exited 0 with an invalid setting")
			case !errors.As(err, &exit):
				t.Fatalf("run weir: %v", err)
			}
			if !strings.Contains(out.String(), tc.names) {
				t.Errorf("the error output does not name %s", tc.names)
			}
			if strings.Contains(out.String(), "panic:") || strings.Contains(out.String(), "goroutine ") {
				t.Errorf("weir panicked instead of reporting the setting")
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("something accepts connections on %s after weir refused to start", addr)
			}
			if _, err := os.Stat(dataDir); err == nil {
				t.Errorf("weir created its data directory %s although start-up stopped at the settings", dataDir)
			}
		})
	}
}

// TestStartupFailureIsReported checks that a start-up failure after the
// settings are read (here: the listen address is taken) ends in a clean
// non-zero exit with a message, not a crash.
func TestStartupFailureIsReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, weirBin, "serve", "--listen", ln.Addr().String(), "--data-dir", filepath.Join(t.TempDir(), "data"))
	cmd.SysProcAttr = childProcAttr()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("weir serve on a taken port: %v\n%s", err, out.String())
	if ctx.Err() != nil {
		t.Fatal("weir still running 60s after failing to listen")
	}
	if err == nil {
		t.Fatal("weir exited 0 although it could not listen")
	}
	if strings.Contains(out.String(), "panic:") {
		t.Errorf("weir panicked when it could not listen on %s instead of exiting with an error (node.Start's deferred cleanup calls closeAll on the nil *Node it is returning)", ln.Addr())
	}
	if !strings.Contains(out.String(), "address already in use") {
		t.Errorf("the error output does not say the address is in use")
	}
}
