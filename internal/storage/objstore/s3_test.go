package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/objstore/objstoretest"
)

const (
	s3AccessKey = "weirtest"
	s3SecretKey = "weirtestsecret"
	s3Bucket    = "weir-test"
)

// findVersitygw returns the versitygw binary, or skips the test unless
// WEIR_REQUIRE_VERSITYGW is set.
func findVersitygw(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WEIR_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("WEIR_VERSITYGW=%s: %v", p, err)
		}
		return p
	}
	var candidates []string
	if root, err := moduleRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, ".tools", "bin", "versitygw"))
	}
	for gopath := range strings.SplitSeq(build.Default.GOPATH, string(os.PathListSeparator)) {
		candidates = append(candidates, filepath.Join(gopath, "bin", "versitygw"))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("versitygw not found (looked in $WEIR_VERSITYGW, %s); install it with scripts/install-versitygw.sh",
		strings.Join(candidates, ", "))
	// CI sets this so that a broken install fails instead of skipping.
	if os.Getenv("WEIR_REQUIRE_VERSITYGW") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

// startVersitygw runs versitygw on a free loopback port with a temp-dir posix
// backend and an empty bucket, stops it when t ends, and returns its URL.
func startVersitygw(t *testing.T) string {
	bin := findVersitygw(t)
	dataDir := t.TempDir()
	var lastErr error
	// The free port can be taken between probing and binding: retry.
	for range 3 {
		endpoint, err := launchVersitygw(t, bin, dataDir)
		if err == nil {
			createBucket(t, endpoint)
			return endpoint
		}
		lastErr = err
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return ""
}

func launchVersitygw(t *testing.T, bin, dataDir string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()

	var logs strings.Builder
	cmd := exec.Command(bin,
		"--access", s3AccessKey, "--secret", s3SecretKey,
		"--port", addr, "--quiet",
		"posix", dataDir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return "", fmt.Errorf("versitygw exited (%v): %s", err, logs.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("versitygw did not listen on %s within 15s: %s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", logs.String())
		}
	})
	return "http://" + addr, nil
}

func createBucket(t *testing.T, endpoint string) {
	t.Helper()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s3AccessKey, s3SecretKey, ""),
	})
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
}

func newS3(t *testing.T, endpoint, prefix string) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(t.Context(), objstore.S3Config{
		Endpoint:  endpoint,
		Bucket:    s3Bucket,
		Region:    "us-east-1",
		AccessKey: s3AccessKey,
		SecretKey: s3SecretKey,
		PathStyle: true,
		Prefix:    prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestS3(t *testing.T) {
	endpoint := startVersitygw(t)
	var n atomic.Int64
	// Each subtest gets a fresh prefix in the shared bucket, which also
	// checks that prefixes isolate stores.
	newStore := func(t *testing.T) objstore.Store {
		s := newS3(t, endpoint, fmt.Sprintf("run/%d", n.Add(1)))
		// Small pages make the suite's List cases cross page boundaries.
		objstore.SetS3PageSize(s, 7)
		return s
	}
	t.Run("Suite", func(t *testing.T) {
		objstoretest.Run(t, newStore)
	})
	t.Run("DefaultPages", func(t *testing.T) {
		// One run at the server's own page size (1000), past one page.
		objstoretest.Run(t, func(t *testing.T) objstore.Store {
			return newS3(t, endpoint, fmt.Sprintf("run/%d", n.Add(1)))
		}, objstoretest.Thorough())
	})
	t.Run("MissingBucket", func(t *testing.T) {
		_, err := objstore.NewS3(t.Context(), objstore.S3Config{
			Endpoint: endpoint, Bucket: "no-such-bucket", Region: "us-east-1",
			AccessKey: s3AccessKey, SecretKey: s3SecretKey, PathStyle: true,
		})
		if err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Fatalf("NewS3 on a missing bucket: error = %v, want one naming the bucket", err)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		_, err := objstore.NewS3(t.Context(), objstore.S3Config{
			Endpoint: endpoint, Bucket: s3Bucket, Region: "us-east-1",
			AccessKey: s3AccessKey, SecretKey: "wrong", PathStyle: true,
		})
		if err == nil {
			t.Fatal("NewS3 with a wrong secret succeeded")
		}
	})
}

func TestNewS3BadConfig(t *testing.T) {
	for _, cfg := range []objstore.S3Config{
		{Endpoint: "http://127.0.0.1:1"},                            // no bucket
		{Endpoint: "127.0.0.1:9000", Bucket: "b"},                   // no scheme
		{Endpoint: "http://127.0.0.1:1", Bucket: "b", Prefix: ".."}, // bad prefix
	} {
		if _, err := objstore.NewS3(t.Context(), cfg); err == nil {
			t.Errorf("NewS3(%+v) succeeded", cfg)
		}
	}
}

// fakeS3 answers HeadBucket, so NewS3 succeeds, and hands every other
// request to handle.
func fakeS3(t *testing.T, handle http.HandlerFunc) *objstore.S3 {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && r.URL.Path == "/bucket" {
			return
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := objstore.NewS3(t.Context(), objstore.S3Config{
		Endpoint: srv.URL, Bucket: "bucket", Region: "us-east-1",
		AccessKey: "k", SecretKey: "s", PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A server that never answers must not hold a caller past its ctx.
func TestS3HungServerHonoursContext(t *testing.T) {
	release := make(chan struct{})
	s := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Get(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get from a hung server: error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Get returned %v after its 200ms deadline", d)
	}
}

// 5xx answers are retried by the SDK, and a ctx ending during the backoff
// stops the retries.
func TestS3RetriesUntilContextEnds(t *testing.T) {
	var calls atomic.Int64
	s := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Put(ctx, "k", []byte("v"))
	if err == nil {
		t.Fatal("Put to a failing server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Put returned after %v, past its 3s deadline", d)
	}
	if got := calls.Load(); got < 2 {
		t.Fatalf("server saw %d attempts, want the SDK to retry", got)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	before := calls.Load()
	if err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled ctx: error = %v, want context.Canceled", err)
	}
	if calls.Load() != before {
		t.Fatal("Put with a canceled ctx reached the server")
	}
}

// Uploads carry Content-MD5, which every S3 server verifies, and none of the
// SDK's newer checksum trailers, which many S3-compatible servers reject.
func TestS3PutHeaders(t *testing.T) {
	var got http.Header
	s := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	})
	if err := s.Put(t.Context(), "k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if md5 := got.Get("Content-MD5"); md5 != "XUFAKrxLKna5cZ2REBfFkg==" {
		t.Errorf("Content-MD5 = %q, want the MD5 of the body", md5)
	}
	for name, v := range got {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum") || name == "X-Amz-Trailer" ||
			name == "X-Amz-Sdk-Checksum-Algorithm" || (name == "Content-Encoding" && strings.Contains(v[0], "aws-chunked")) {
			t.Errorf("Put sent %s: %q", name, v)
		}
	}
}

// GetRange copes with a server that ignores Range and sends the whole
// object, and with the short 206 that S3 sends for a range past the end.
func TestS3RangeAnswers(t *testing.T) {
	data := []byte("0123456789")
	s := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bucket/short" {
			w.Header().Set("Content-Range", "bytes 8-9/10")
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[8:])
			return
		}
		w.Write(data) // Range ignored
	})
	got, err := s.GetRange(t.Context(), "full", 3, 4)
	if err != nil || string(got) != "3456" {
		t.Fatalf("GetRange from a server ignoring Range = %q, %v; want 3456", got, err)
	}
	if _, err := s.GetRange(t.Context(), "full", 8, 4); !errors.Is(err, objstore.ErrInvalidRange) {
		t.Fatalf("GetRange past the end from a server ignoring Range: error = %v, want ErrInvalidRange", err)
	}
	if _, err := s.GetRange(t.Context(), "short", 8, 4); !errors.Is(err, objstore.ErrInvalidRange) {
		t.Fatalf("GetRange answered with fewer bytes: error = %v, want ErrInvalidRange", err)
	}
}
