package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// goTest describes one run of a client's own Go test package.
type goTest struct {
	suite   string   // key in known.txt
	dir     string   // package directory inside the module copy
	tags    []string // build tags
	run     string   // -test.run pattern, empty for all
	env     []string // extra environment
	timeout time.Duration
	// part, if set, names this run of the suite's tests in file names (a
	// suite run in parts).
	part string
	// expand names top-level tests whose subtests are counted instead of
	// the test itself (confluent-kafka-go's testify suite TestIntegration).
	expand map[string]bool
}

type testEvent struct {
	Action string
	Test   string
	Output string
}

// runGoTest compiles the package's test binary, runs it through test2json
// and returns one result per top-level test (or per subtest of an expanded
// test).
func (h *harness) runGoTest(ctx context.Context, g goTest) ([]result, error) {
	bin := filepath.Join(h.tmp, "bin", g.suite+".test")
	logName := g.suite
	if g.part != "" {
		logName += "-" + g.part
	}
	args := []string{"test", "-c", "-o", bin}
	if len(g.tags) > 0 {
		args = append(args, "-tags", strings.Join(g.tags, ","))
	}
	buildStart := time.Now()
	if err := h.goCmd(ctx, g.dir, []string{"GOFLAGS=-mod=mod"}, append(args, ".")...); err != nil {
		return nil, fmt.Errorf("building %s tests: %v", g.suite, err)
	}
	fmt.Printf("compat: %s: test binary built in %s\n", g.suite, time.Since(buildStart).Round(time.Second))

	targs := []string{"tool", "test2json", "-t", "-p", g.suite, bin, "-test.v=test2json",
		"-test.timeout", g.timeout.String()}
	if g.run != "" {
		targs = append(targs, "-test.run", g.run)
	}
	var skips []string
	for _, e := range h.known.excluded(g.suite, h.apis) {
		skips = append(skips, "^"+regexp.QuoteMeta(e.test)+"$")
	}
	if len(skips) > 0 {
		targs = append(targs, "-test.skip", strings.Join(skips, "|"))
	}
	cmd := exec.CommandContext(ctx, "go", targs...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), g.env...)
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(h.tmp, logName+"-test.json")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}

	type state struct {
		status string
		output []string
	}
	tests := map[string]*state{}
	var order []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		logf.Write(line)
		logf.Write([]byte("\n"))
		var ev testEvent
		if json.Unmarshal(line, &ev) != nil || ev.Test == "" {
			continue
		}
		st := tests[ev.Test]
		if st == nil {
			st = &state{}
			tests[ev.Test] = st
			order = append(order, ev.Test)
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			st.status = ev.Action
		case "output":
			if len(st.output) < 200 {
				st.output = append(st.output, ev.Output)
			}
		}
	}
	waitErr := cmd.Wait()

	var rs []result
	for _, name := range order {
		top, _, isSub := strings.Cut(name, "/")
		counted := false
		if isSub {
			// A direct subtest of an expanded test.
			counted = g.expand[top] && strings.Count(name, "/") == 1
		} else {
			counted = !g.expand[name]
		}
		if !counted {
			continue
		}
		st := tests[name]
		r := result{Name: name, Status: st.status}
		switch st.status {
		case "":
			r.Status = "fail"
			r.Reason = "no result (test binary timed out or crashed); see " + logPath
		case "fail":
			// The last file:line is the one that failed the test (t.Fatal);
			// earlier ones are usually its t.Log lines.
			r.Reason = reasonFrom(st.output, true)
		case "skip":
			r.Reason = reasonFrom(st.output, true)
		}
		rs = append(rs, r)
	}
	if ctx.Err() != nil {
		return rs, fmt.Errorf("%s: stopped at the suite's time budget; partial results, log %s", g.suite, logPath)
	}
	if waitErr != nil {
		failed := false
		for _, r := range rs {
			if r.Status == "fail" {
				failed = true
			}
		}
		if !failed {
			// The binary failed without any test failing: a crash or a
			// failure outside tests (TestMain, init).
			return rs, fmt.Errorf("%s test binary: %v; log %s", g.suite, waitErr, logPath)
		}
	}
	return rs, nil
}

var fileLine = regexp.MustCompile(`^\s+\S+\.go:\d+: `)

// reasonFrom picks a failed test's first t.Log/t.Error line, or a skipped
// test's last (its t.Skip message).
func reasonFrom(output []string, last bool) string {
	var found string
	for _, o := range output {
		if fileLine.MatchString(o) {
			found = strings.TrimSpace(o)
			if !last {
				break
			}
		}
	}
	if found != "" {
		return found
	}
	for _, o := range output {
		o = strings.TrimSpace(o)
		if o != "" && !strings.HasPrefix(o, "=== ") && !strings.HasPrefix(o, "--- ") {
			return o
		}
	}
	return ""
}
