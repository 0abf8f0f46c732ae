// Command harness is Weir's client compatibility layer (tests/compat): it
// builds `weir serve` from the tree, then runs, each against a fresh broker
// on free loopback ports,
//
//   - franz-go's own pkg/kgo integration tests (version from the main go.mod),
//   - confluent-kafka-go's integration tests and segmentio/kafka-go's tests
//     (versions from tests/compat/go.mod),
//
// all from a writable copy of the module in the module cache, and then the
// scenario programs of tests/compat (scenarios.json) in kcat, Python
// (confluent-kafka, kafka-python), kafkajs, sarama and franz-go.
//
// Test outcomes are matched against known.txt: a failure listed there is a
// known failure (a missing Weir feature, named with its issue) and does not
// fail the run; any other failure does. The run ends with a summary table and
// the line "compat: N passed, N failed, N skipped" (skipped counts known
// failures too), and exits non-zero when anything failed.
//
// -target kfake runs the same suites against franz-go's kfake instead, for a
// baseline.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// result is one test's or scenario's outcome.
type result struct {
	Name   string
	Status string // pass, fail, skip, known
	Reason string
}

type suiteResult struct {
	Name    string
	Results []result
	Dur     time.Duration
	Err     error // the suite could not run at all (counts as one failure)
}

func (s suiteResult) count(status string) int {
	n := 0
	for _, r := range s.Results {
		if r.Status == status {
			n++
		}
	}
	return n
}

type harness struct {
	repo     string // repository root
	compat   string // tests/compat
	tmp      string
	weirBin  string
	kfakeBin string
	target   string // weir or kfake
	known    *knownList
	verbose  bool
	apis     map[int16]bool // API keys the last started broker advertises
}

type suite struct {
	name string
	run  func(ctx context.Context, h *harness) ([]result, error)
	// budget bounds the whole suite, server start included.
	budget time.Duration
}

func main() {
	suitesFlag := flag.String("suites", "kgo,confluent,kafka-go,scenarios", "comma-separated suites to run")
	target := flag.String("target", "weir", "broker to test: weir, or kfake for a baseline")
	keep := flag.Bool("keep", false, "keep the temporary directory (logs, data, copies)")
	verbose := flag.Bool("v", false, "print every test's outcome")
	docOut := flag.String("doc", "", "rewrite the measured-results section of this Markdown file (docs/compatibility.md)")
	flag.Parse()

	start := time.Now()
	h, err := newHarness(*target, *verbose)
	if err != nil {
		fatalf("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(h.tmp)
	} else {
		fmt.Printf("compat: temporary directory %s kept\n", h.tmp)
	}

	all := map[string]suite{
		"kgo":       {name: "franz-go kgo", run: runKgo, budget: 14 * time.Minute},
		"confluent": {name: "confluent-kafka-go", run: runConfluent, budget: 12 * time.Minute},
		"kafka-go":  {name: "segmentio/kafka-go", run: runKafkaGo, budget: 8 * time.Minute},
		"scenarios": {name: "scenarios", run: runScenarios, budget: 10 * time.Minute},
	}
	var results []suiteResult
	for _, key := range strings.Split(*suitesFlag, ",") {
		key = strings.TrimSpace(key)
		s, ok := all[key]
		if !ok {
			fatalf("unknown suite %q", key)
		}
		fmt.Printf("compat: == %s (against %s)\n", s.name, h.target)
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), s.budget)
		rs, err := s.run(ctx, h)
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("suite exceeded its %v budget", s.budget)
		}
		cancel()
		sr := suiteResult{Name: s.name, Results: h.known.apply(key, rs, h.apis), Dur: time.Since(t0), Err: err}
		if sr.Err != nil {
			fmt.Printf("compat: %s: ERROR: %v\n", s.name, sr.Err)
		}
		printSuite(sr, *verbose)
		results = append(results, sr)
	}

	table, passed, failed, skipped := summary(results)
	fmt.Println()
	fmt.Print(table)
	fmt.Printf("compat: total time %s\n", time.Since(start).Round(time.Second))
	if *docOut != "" {
		if err := writeDoc(*docOut, table, notPassed(results), h.target, time.Since(start)); err != nil {
			fatalf("%v", err)
		}
	}
	fmt.Printf("compat: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compat: "+format+"\n", args...)
	os.Exit(2)
}

func newHarness(target string, verbose bool) (*harness, error) {
	if target != "weir" && target != "kfake" {
		return nil, fmt.Errorf("-target must be weir or kfake")
	}
	compat, err := filepath.Abs(".")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(compat, "known.txt")); err != nil {
		return nil, fmt.Errorf("run from tests/compat (known.txt not found): %v", err)
	}
	repo := filepath.Dir(filepath.Dir(compat))
	tmp, err := os.MkdirTemp("", "weir-compat-")
	if err != nil {
		return nil, err
	}
	h := &harness{repo: repo, compat: compat, tmp: tmp, target: target, verbose: verbose}
	if h.known, err = readKnown(filepath.Join(compat, "known.txt")); err != nil {
		return nil, err
	}
	if target == "kfake" {
		h.known = &knownList{} // the baseline runs everything, expects nothing
	}
	h.weirBin = filepath.Join(tmp, "bin", "weir")
	if err := h.goCmd(context.Background(), repo, nil, "build", "-o", h.weirBin, "./cmd/weir"); err != nil {
		return nil, fmt.Errorf("building weir: %v", err)
	}
	if target == "kfake" {
		h.kfakeBin = filepath.Join(tmp, "bin", "kfakeserver")
		if err := h.goCmd(context.Background(), compat, nil, "build", "-o", h.kfakeBin, "./kfakeserver"); err != nil {
			return nil, fmt.Errorf("building kfakeserver: %v", err)
		}
	}
	return h, nil
}

// goCmd runs the go command in dir, output to stderr-like log on failure.
func (h *harness) goCmd(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 3000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// broker is one running weir serve (or kfake cluster).
type broker struct {
	addrs []string
	cmd   *exec.Cmd
	done  chan struct{}
	log   string
}

func (b *broker) seeds() string { return strings.Join(b.addrs, ",") }

// freePort returns a port that was free a moment ago, below the kernel's
// ephemeral range when it can: a port from that range (what listening on
// port 0 returns) may be taken at any moment by an outgoing connection
// before the broker binds it.
func freePort() (int, error) {
	if low := ephemeralLow(); low > 10000 {
		for i := 0; i < 100; i++ {
			p := 10000 + rand.IntN(low-10000)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
				l.Close()
				return p, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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

// startBroker starts a fresh broker for one suite: weir serve on port (0:
// a free one) with a new data directory, or kfake with n brokers.
// advertiseHost replaces 127.0.0.1 in what weir advertises (kafka-go's tests
// expect "localhost").
func (h *harness) startBroker(name string, n int, advertiseHost string, port int, settings ...string) (*broker, error) {
	logPath := filepath.Join(h.tmp, name+"-broker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	b := &broker{log: logPath, done: make(chan struct{})}
	var cmd *exec.Cmd
	if h.target == "kfake" {
		var ports []string
		for i := 0; i < n; i++ {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			if port != 0 && i == 0 {
				p = port
			}
			ports = append(ports, fmt.Sprint(p))
			b.addrs = append(b.addrs, fmt.Sprintf("127.0.0.1:%d", p))
		}
		cmd = exec.Command(h.kfakeBin, "-ports", strings.Join(ports, ","))
	} else {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if port != 0 {
			p = port
		}
		listen := fmt.Sprintf("127.0.0.1:%d", p)
		adv := listen
		if advertiseHost != "" {
			adv = fmt.Sprintf("%s:%d", advertiseHost, p)
		}
		b.addrs = []string{adv}
		args := []string{"serve", "--listen", listen, "--advertise", adv,
			"--data-dir", filepath.Join(h.tmp, name+"-data"), "--log-level", "warn"}
		for _, s := range settings {
			args = append(args, "--set", s)
		}
		cmd = exec.Command(h.weirBin, args...)
	}
	for _, a := range b.addrs {
		a = strings.Replace(a, "localhost:", "127.0.0.1:", 1)
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			logf.Close()
			return nil, fmt.Errorf("environment: %s is already in use; the %s suite needs it", a, name)
		}
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	b.cmd = cmd
	go func() { cmd.Wait(); logf.Close(); close(b.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for _, a := range b.addrs {
		a = strings.Replace(a, "localhost:", "127.0.0.1:", 1)
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-b.done:
				return nil, fmt.Errorf("%s broker exited at start; log %s:\n%s", name, logPath, readTail(logPath))
			default:
			}
			if time.Now().After(deadline) {
				b.stop()
				return nil, fmt.Errorf("%s broker not listening on %s after 60s", name, a)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	h.apis, err = apiVersions(b.addrs[0])
	if err != nil {
		b.stop()
		return nil, fmt.Errorf("%s broker: ApiVersions: %v", name, err)
	}
	return b, nil
}

// apiVersions returns the API keys a broker advertises.
func apiVersions(addr string) (map[int16]bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Replace(addr, "localhost:", "127.0.0.1:", 1)))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	apis := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		apis[k.ApiKey] = true
	}
	return apis, nil
}

func readTail(path string) string {
	data, _ := os.ReadFile(path)
	return tail(string(data), 2000)
}

// stop ends the broker: SIGTERM (weir uploads and exits 0), then SIGKILL.
func (b *broker) stop() {
	if b == nil || b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
}

// copyModule copies a module directory from the module cache into the
// temporary directory and makes it writable.
func (h *harness) copyModule(ctx context.Context, modDir, path, version string) (string, error) {
	dir, err := h.moduleDir(ctx, modDir, path, version)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(h.tmp, "src", filepath.Base(dir))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "cp", "-r", dir, dst).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cp %s: %v: %s", dir, err, out)
	}
	if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chmod %s: %v: %s", dst, err, out)
	}
	return dst, nil
}

// moduleDir downloads (if needed) the module at the version that the go.mod
// in modDir requires, or at version if not empty, and returns its directory
// in the module cache.
func (h *harness) moduleDir(ctx context.Context, modDir, path, version string) (string, error) {
	if version == "" {
		cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", path)
		cmd.Dir = modDir
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go list -m %s in %s: %v", path, modDir, err)
		}
		version = strings.TrimSpace(string(out))
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", path+"@"+version)
	cmd.Dir = modDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v", path, version, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, `"Dir": "`) {
			return strings.TrimSuffix(strings.TrimPrefix(line, `"Dir": "`), `",`), nil
		}
	}
	return "", fmt.Errorf("go mod download %s@%s: no Dir in %s", path, version, out)
}

func printSuite(sr suiteResult, verbose bool) {
	rs := append([]result(nil), sr.Results...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	for _, r := range rs {
		if r.Status == "pass" && !verbose {
			continue
		}
		line := fmt.Sprintf("compat:   %-5s %s", strings.ToUpper(r.Status), r.Name)
		if r.Reason != "" {
			line += ": " + oneLine(r.Reason, 300)
		}
		fmt.Println(line)
	}
	fmt.Printf("compat: %s: %d passed, %d failed, %d known failures, %d skipped (%s)\n",
		sr.Name, sr.count("pass"), sr.failed(), sr.count("known"), sr.count("skip"), sr.Dur.Round(time.Second))
}

func (s suiteResult) failed() int {
	n := s.count("fail")
	if s.Err != nil {
		n++
	}
	return n
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func summary(results []suiteResult) (table string, passed, failed, skipped int) {
	var b strings.Builder
	b.WriteString("| Suite | Passed | Failed | Known failures | Skipped | Time |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, s := range results {
		p, f, k, sk := s.count("pass"), s.failed(), s.count("known"), s.count("skip")
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s |\n", s.Name, p, f, k, sk, s.Dur.Round(time.Second))
		passed += p
		failed += f
		skipped += k + sk
	}
	return b.String(), passed, failed, skipped
}

// notPassed lists, as a Markdown table, every known failure and skip of a
// run with its reason (and any failure).
func notPassed(results []suiteResult) string {
	var b strings.Builder
	b.WriteString("| Suite | Test | Outcome | Reason |\n|---|---|---|---|\n")
	for _, s := range results {
		rs := append([]result(nil), s.Results...)
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
		for _, r := range rs {
			if r.Status == "pass" {
				continue
			}
			outcome := map[string]string{"known": "known failure", "skip": "skipped", "fail": "FAILED"}[r.Status]
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", s.Name, r.Name, outcome,
				strings.ReplaceAll(oneLine(r.Reason, 400), "|", "\\|"))
		}
		if s.Err != nil {
			fmt.Fprintf(&b, "| %s | (suite) | FAILED | %s |\n", s.Name, strings.ReplaceAll(oneLine(s.Err.Error(), 400), "|", "\\|"))
		}
	}
	return b.String()
}

// writeDoc replaces the text between the BEGIN/END RESULTS markers of a
// Markdown file with the tables just measured.
func writeDoc(path, table, notPassed, target string, total time.Duration) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const begin, end = "<!-- BEGIN RESULTS -->", "<!-- END RESULTS -->"
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return errors.New(path + ": no " + begin + " ... " + end + " markers")
	}
	body := fmt.Sprintf("\nMeasured %s UTC against %s, %s in all (`make compat` on a 2-core machine):\n\n%s\n"+
		"Every known failure and skip of that run, with its reason (from known.txt, or the test's own skip message):\n\n%s\n",
		time.Now().UTC().Format("2006-01-02 15:04"), target, total.Round(time.Second), table, notPassed)
	return os.WriteFile(path, []byte(s[:i+len(begin)]+body+s[j:]), 0o644)
}

// knownList is known.txt: expected failures, and reasons for skips.
type knownList struct {
	entries []knownEntry
}

type knownEntry struct {
	suite, kind, test, reason string
	// unlessAPIs: an exclusion that lapses once the broker advertises all
	// of these API keys (the feature the test waits for has landed).
	unlessAPIs []int16
}

func readKnown(path string) (*knownList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := &knownList{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		kind, cond, _ := strings.Cut(fs[1], ":")
		var unless []int16
		if cond != "" {
			for _, a := range strings.Split(strings.TrimPrefix(cond, "unless-api="), ",") {
				key, err := strconv.Atoi(a)
				if err != nil || !strings.HasPrefix(cond, "unless-api=") || kind != "exclude" {
					return nil, fmt.Errorf("%s:%d: bad condition %q (want exclude:unless-api=KEY,...)", path, n, fs[1])
				}
				unless = append(unless, int16(key))
			}
		}
		if len(fs) < 4 || (kind != "fail" && kind != "skip" && kind != "exclude") {
			return nil, fmt.Errorf("%s:%d: want: SUITE fail|skip|exclude[:unless-api=KEY,...] TEST REASON...", path, n)
		}
		reason := strings.TrimSpace(line[strings.Index(line, fs[2])+len(fs[2]):])
		k.entries = append(k.entries, knownEntry{suite: fs[0], kind: kind, test: fs[2], reason: reason, unlessAPIs: unless})
	}
	return k, sc.Err()
}

func (k *knownList) isExcluded(suite, name string, apis map[int16]bool) bool {
	for _, e := range k.excluded(suite, apis) {
		if matchName(e.test, name) {
			return true
		}
	}
	return false
}

func matchName(pattern, name string) bool {
	if ok, _ := filepath.Match(pattern, name); ok {
		return true
	}
	return pattern == name
}

func (k *knownList) find(suite, kind, name string) *knownEntry {
	for i := range k.entries {
		e := &k.entries[i]
		if e.suite == suite && e.kind == kind && matchName(e.test, name) {
			return e
		}
	}
	return nil
}

// excluded returns the tests of a suite that are not run at all against a
// broker advertising apis.
func (k *knownList) excluded(suite string, apis map[int16]bool) []knownEntry {
	var out []knownEntry
	for _, e := range k.entries {
		if e.suite != suite || e.kind != "exclude" {
			continue
		}
		lapsed := len(e.unlessAPIs) > 0
		for _, key := range e.unlessAPIs {
			lapsed = lapsed && apis[key]
		}
		if !lapsed {
			out = append(out, e)
		}
	}
	return out
}

// apply turns listed failures into known failures and gives listed skips
// their reason; an unlisted failure stays a failure.
func (k *knownList) apply(suite string, rs []result, apis map[int16]bool) []result {
	for i := range rs {
		r := &rs[i]
		switch r.Status {
		case "fail":
			if e := k.find(suite, "fail", r.Name); e != nil {
				r.Status, r.Reason = "known", e.reason
			}
		case "skip":
			if e := k.find(suite, "skip", r.Name); e != nil {
				r.Reason = e.reason
			} else if e := k.find(suite, "exclude", r.Name); e != nil && k.isExcluded(suite, r.Name, apis) {
				r.Reason = "not run: " + e.reason
			}
		case "pass":
			if e := k.find(suite, "fail", r.Name); e != nil {
				r.Reason = "listed as a known failure in known.txt but passed"
			}
		}
	}
	for _, e := range k.excluded(suite, apis) {
		if !strings.ContainsAny(e.test, "*?[") {
			found := false
			for _, r := range rs {
				if r.Name == e.test {
					found = true
				}
			}
			if !found {
				rs = append(rs, result{Name: e.test, Status: "skip", Reason: "not run: " + e.reason})
			}
		}
	}
	return rs
}
