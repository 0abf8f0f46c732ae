package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// scenarioFile is tests/compat/scenarios.json, the list every client's
// scenario program implements.
type scenarioFile struct {
	Scenarios []struct {
		Name string `json:"name"`
		What string `json:"what"`
	} `json:"scenarios"`
	InteropCodecs []string `json:"interop_codecs"`
	Clients       []struct {
		Name string   `json:"name"`
		Cmd  []string `json:"cmd"`
		// FixedTimestamps: the client can set record timestamps, so its
		// interop-write records carry known ones that readers check.
		FixedTimestamps bool              `json:"fixed_timestamps"`
		NotApplicable   map[string]string `json:"not_applicable"`
	} `json:"clients"`
}

// exitSkip is the exit code with which a scenario program reports a skip
// (its last stdout line is the reason), as automake's test harness does.
const exitSkip = 77

// runScenarios runs every client's scenarios against one fresh broker (each
// scenario uses its own topic and group), then the interop matrix: every
// client reads what every client wrote.
func runScenarios(ctx context.Context, h *harness) ([]result, error) {
	data, err := os.ReadFile(filepath.Join(h.compat, "scenarios.json"))
	if err != nil {
		return nil, err
	}
	var sf scenarioFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("scenarios.json: %v", err)
	}
	goBin := filepath.Join(h.tmp, "bin", "goclient")
	if err := h.goCmd(ctx, h.compat, nil, "build", "-o", goBin, "./goclient"); err != nil {
		return nil, err
	}
	b, err := h.startBroker("scenarios", 1, "", 0, weirTestSettings...)
	if err != nil {
		return nil, err
	}
	defer b.stop()

	run := func(client, scenario string, argv []string, env []string) result {
		name := client + ": " + scenario
		cmdArgs := make([]string, len(argv))
		for i, a := range argv {
			cmdArgs[i] = strings.ReplaceAll(a, "{{goclient}}", goBin)
		}
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, cmdArgs[0], append(cmdArgs[1:], scenario)...)
		cmd.Dir = h.compat
		cmd.Env = append(os.Environ(), env...)
		cmd.WaitDelay = 5 * time.Second
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		t0 := time.Now()
		err := cmd.Run()
		if h.verbose {
			fmt.Printf("compat:   ran %s in %s\n", name, time.Since(t0).Round(10*time.Millisecond))
		}
		var ee *exec.ExitError
		switch {
		case err == nil:
			return result{Name: name, Status: "pass"}
		case errors.As(err, &ee) && ee.ExitCode() == exitSkip:
			return result{Name: name, Status: "skip", Reason: lastLine(stdout.String())}
		case cctx.Err() != nil:
			return result{Name: name, Status: "fail", Reason: "timed out after 90s: " + tail(stderr.String(), 600)}
		default:
			return result{Name: name, Status: "fail", Reason: fmt.Sprintf("%v: %s", err, tail(stderr.String()+stdout.String(), 600))}
		}
	}

	var rs []result
	// Interop records carry timestamps from a minute ago: recent enough
	// that retention (7 days by default) keeps them.
	tsBase := time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli()
	base := []string{"BOOTSTRAP=" + b.seeds(), fmt.Sprintf("TS_BASE=%d", tsBase)}
	for ci, c := range sf.Clients {
		slug := strings.ReplaceAll(c.Name, "/", "-")
		for _, s := range sf.Scenarios {
			name := s.Name
			if name == "interop-read" {
				continue
			}
			if why, ok := c.NotApplicable[name]; ok {
				rs = append(rs, result{Name: c.Name + ": " + name, Status: "skip", Reason: "n/a: " + why})
				continue
			}
			env := append(base, "TOPIC=compat-"+slug+"-"+name, "GROUP=compat-"+slug+"-"+name, "CLIENT="+c.Name)
			if name == "interop-write" {
				env = append(base, "TOPIC=interop-"+slug, "CLIENT="+c.Name,
					"CODEC="+sf.InteropCodecs[ci%len(sf.InteropCodecs)])
			}
			rs = append(rs, run(c.Name, name, c.Cmd, env))
		}
	}
	for _, reader := range sf.Clients {
		for _, writer := range sf.Clients {
			name := "interop-read from " + writer.Name
			if why, ok := reader.NotApplicable["interop-read"]; ok {
				rs = append(rs, result{Name: reader.Name + ": " + name, Status: "skip", Reason: "n/a: " + why})
				continue
			}
			fixed := "0"
			if writer.FixedTimestamps {
				fixed = "1"
			}
			env := append(base, "TOPIC=interop-"+strings.ReplaceAll(writer.Name, "/", "-"),
				"WRITER="+writer.Name, "FIXED_TS="+fixed, "CLIENT="+reader.Name,
				"GROUP=compat-interop-"+reader.Name)
			r := run(reader.Name, "interop-read", reader.Cmd, env)
			r.Name = reader.Name + ": " + name
			rs = append(rs, r)
		}
	}
	return rs, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
