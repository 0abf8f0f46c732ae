package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// weirBin is the weir binary under test, built once by TestMain.
var weirBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if b := os.Getenv("WEIR_BIN"); b != "" {
		weirBin = b
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "weir-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	weirBin = filepath.Join(dir, "weir")
	start := time.Now()
	// go test puts $GOROOT/bin first in PATH, so "go" is the toolchain
	// running these tests.
	args := []string{"build", "-o", weirBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/weirdb/weir/cmd/weir")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/weir:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built %s (race detector: %v) in %v\n", weirBin, raceEnabled, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// BrokerOptions adjust a broker started by StartBroker.
type BrokerOptions struct {
	Sets    []string // --set name=value
	DataDir string   // default: a new temporary directory
}

// Broker is a `weir serve` child process, restartable on the same data
// directory and port.
type Broker struct {
	Addr    string // 127.0.0.1:port, listen and advertised address
	DataDir string
	LogPath string // stdout and stderr of every run, appended
	sets    []string

	mu     sync.Mutex
	proc   *process
	starts int
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, valid after done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartBroker starts weir on a free port with a temporary data directory
// and returns once it answers Kafka Metadata requests. The process is killed
// when the test ends; if the test failed, the tail of its log is logged.
func StartBroker(t testing.TB, o BrokerOptions) *Broker {
	t.Helper()
	b := &Broker{DataDir: o.DataDir, sets: o.Sets}
	if b.DataDir == "" {
		b.DataDir = filepath.Join(t.TempDir(), "data")
	}
	b.LogPath = filepath.Join(t.TempDir(), "weir.log")
	t.Cleanup(func() {
		b.killQuietly()
		if log := b.Log(); strings.Contains(log, "WARNING: DATA RACE") {
			i := strings.Index(log, "WARNING: DATA RACE")
			t.Errorf("weir reported a data race (full log %s):\n%s", b.LogPath, log[i:min(len(log), i+6000)])
		}
		if t.Failed() {
			t.Logf("weir log (%s), last lines:\n%s", b.LogPath, b.LogTail(80))
		}
	})
	// Another process may take the free port between our probe and weir's
	// listen; try a few ports.
	for attempt := 0; ; attempt++ {
		b.Addr = freeAddr(t)
		err := b.start()
		if err == nil {
			return b
		}
		if attempt < 5 && b.bindFailed() {
			t.Logf("port %s taken, retrying: %v", b.Addr, err)
			continue
		}
		t.Fatalf("start weir: %v\nlog tail:\n%s", err, b.LogTail(60))
	}
}

// Restart starts weir again on the same data directory and port; the
// previous process must have exited (Kill9 or Stop).
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if err = b.start(); err == nil {
			return
		}
		if !b.bindFailed() {
			break
		}
		// The clients under test know this address, so wait for it rather
		// than move: whatever holds it is usually a short-lived connection.
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("restart weir: %v\nlog tail:\n%s", err, b.LogTail(60))
}

// bindFailed reports whether the latest start of weir exited because its
// listen address was in use.
func (b *Broker) bindFailed() bool {
	log := b.Log()
	if i := strings.LastIndex(log, "=== e2e: start #"); i >= 0 {
		log = log[i:]
	}
	return strings.Contains(log, "address already in use")
}

// KillDuringStartup starts weir on the same data directory and port and
// kills it with SIGKILL after delay, whether or not it is ready by then.
func (b *Broker) KillDuringStartup(t testing.TB, delay time.Duration) {
	t.Helper()
	if err := b.launch(); err != nil {
		t.Fatalf("start weir: %v", err)
	}
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	select {
	case <-p.done:
		t.Fatalf("weir exited during start-up: %v\nlog tail:\n%s", p.err, b.LogTail(60))
	case <-time.After(delay):
	}
	b.Kill9(t)
}

func (b *Broker) start() error {
	if err := b.launch(); err != nil {
		return err
	}
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	if err := waitReady(p, b.Addr, 60*time.Second); err != nil {
		b.killQuietly()
		return err
	}
	return nil
}

// launch starts the weir process without waiting for it to be ready.
func (b *Broker) launch() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil && !b.proc.exited() {
		return errors.New("weir is still running")
	}
	b.starts++
	args := []string{"serve", "--listen", b.Addr, "--data-dir", b.DataDir}
	if lvl := os.Getenv("WEIR_E2E_LOG_LEVEL"); lvl != "" {
		args = append(args, "--log-level", lvl)
	}
	for _, s := range b.sets {
		args = append(args, "--set", s)
	}
	f, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== e2e: start #%d at %s: weir %s\n", b.starts, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(weirBin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childProcAttr()
	err = cmd.Start()
	f.Close() // the child has its own copy
	if err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.proc = p
	return nil
}

// waitReady waits until addr answers a Metadata request listing one broker.
func waitReady(p *process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("weir exited during start-up: %v", p.err)
		}
		last = metadataPing(addr)
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("weir not ready on %s after %v: %v", addr, timeout, last)
}

func metadataPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Brokers) != 1 {
		return fmt.Errorf("metadata lists %d brokers", len(resp.Brokers))
	}
	return nil
}

// Kill9 kills weir with SIGKILL and waits for it to exit.
func (b *Broker) Kill9(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	if p == nil || p.exited() {
		t.Fatal("Kill9: weir is not running")
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 weir: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("weir did not exit 10s after SIGKILL")
	}
	b.appendLog("=== e2e: killed with SIGKILL\n")
}

// Stop sends sig (SIGTERM, SIGINT) and waits up to timeout for weir to
// exit; it returns the exit code and how long the exit took. If weir is
// still running after timeout, it is killed and the test fails.
func (b *Broker) Stop(t testing.TB, sig syscall.Signal, timeout time.Duration) (code int, took time.Duration) {
	t.Helper()
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	if p == nil || p.exited() {
		t.Fatal("Stop: weir is not running")
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal weir: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("weir still running %v after %v; killed it", timeout, sig)
	}
	took = time.Since(start)
	b.appendLog(fmt.Sprintf("=== e2e: exited after %v in %v: %v\n", sig, took, p.err))
	return p.cmd.ProcessState.ExitCode(), took
}

func (b *Broker) killQuietly() {
	b.mu.Lock()
	p := b.proc
	b.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (b *Broker) appendLog(s string) {
	f, err := os.OpenFile(b.LogPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	f.WriteString(s)
	f.Close()
}

// Log returns everything weir wrote to stdout and stderr so far.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(b.LogPath)
	return string(data)
}

// LogTail returns the last n lines of the log.
func (b *Broker) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(b.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Client returns a franz-go client of the broker, closed when the test ends.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client of the broker, closed when the test ends.
func (b *Broker) Admin(t testing.TB) *kadm.Client {
	return kadm.NewClient(b.Client(t))
}

// freeAddr returns 127.0.0.1:port for a port that was free a moment ago.
// It picks below the kernel's ephemeral range: a port from that range (what
// listening on port 0 returns) can be taken at any moment as the local port
// of an outgoing connection, and CI once lost a start to exactly that.
func freeAddr(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	if low > 10000 {
		for i := 0; i < 100; i++ {
			addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(low-10000))
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ephemeralLow returns the lowest port the kernel hands to outgoing
// connections, or 0 if unknown.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}

// requireClients reports whether missing external clients fail tests
// instead of skipping them.
func requireClients() bool { return os.Getenv("WEIR_REQUIRE_CLIENTS") == "1" }

// missingClient skips the test, or fails it under WEIR_REQUIRE_CLIENTS=1.
func missingClient(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requireClients() {
		t.Fatalf("%s (WEIR_REQUIRE_CLIENTS=1, so this is a failure; run scripts/install-test-deps.sh)", msg)
	}
	t.Skipf("skipping: %s (set WEIR_REQUIRE_CLIENTS=1 to make this a failure; scripts/install-test-deps.sh installs it)", msg)
}

// runCmd runs name with args and stdin, failing the test on a non-zero exit
// or after timeout; it returns stdout.
func runCmd(t testing.TB, timeout time.Duration, stdin []byte, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\nstdout:\n%s\nstderr:\n%s", name, shellJoin(args), timeout, stdout.String(), stderr.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, shellJoin(args), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\|%$*?;&<>()") {
			q[i] = strconv.Quote(a)
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

// dirSize returns the total size of the regular files under dir and how
// many there are.
func dirSize(t testing.TB, dir string) (size int64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return size, files
}

func ptr[T any](v T) *T { return &v }
