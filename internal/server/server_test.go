package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	keyProduce     = 0
	keyMetadata    = 3
	errUnsupported = 35 // UNSUPPORTED_VERSION
	waitFor        = 5 * time.Second
)

// fakeHandler answers ApiVersions from its version table and every other
// request with fn. By default fn echoes Metadata topics; a topic name
// selects a behaviour (see echoMetadata).
type fakeHandler struct {
	versions map[int16][2]int16
	fn       func(ctx context.Context, req *Request) Reply

	handled atomic.Int32

	mu   sync.Mutex // guards the following
	seen []*Request
}

func newFakeHandler() *fakeHandler {
	h := &fakeHandler{versions: map[int16][2]int16{
		apiVersionsKey: {0, 3},
		keyMetadata:    {0, 12},
		keyProduce:     {3, 11},
	}}
	h.fn = func(_ context.Context, req *Request) Reply { return echoMetadata(req) }
	return h
}

func (h *fakeHandler) Supported(key, version int16) bool {
	r, ok := h.versions[key]
	return ok && version >= r[0] && version <= r[1]
}

func (h *fakeHandler) Handle(ctx context.Context, req *Request) Reply {
	h.handled.Add(1)
	h.mu.Lock()
	h.seen = append(h.seen, req)
	h.mu.Unlock()
	if req.Key == apiVersionsKey {
		return Done(h.apiVersions(req))
	}
	return h.fn(ctx, req)
}

func (h *fakeHandler) requests() []*Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*Request(nil), h.seen...)
}

func (h *fakeHandler) apiVersions(req *Request) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(req.Version)
	if req.Unsupported {
		resp.ErrorCode = errUnsupported
	}
	for _, k := range []int16{keyProduce, keyMetadata, apiVersionsKey} {
		r := h.versions[k]
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: r[0], MaxVersion: r[1]})
	}
	return resp
}

// echoMetadata answers with the requested topics. Topic "delay=<duration>"
// makes the Reply sleep that long, "panic" panics in Handle, "panic-reply"
// panics in the Reply, "error" fails the Reply, "nil" sends no response.
// The response is left at version 0 on purpose: the server must set it.
func echoMetadata(req *Request) Reply {
	resp := kmsg.NewPtrMetadataResponse()
	var delay time.Duration
	for _, t := range req.Body.(*kmsg.MetadataRequest).Topics {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = t.Topic
		resp.Topics = append(resp.Topics, rt)
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		switch {
		case name == "panic":
			panic("boom in Handle")
		case name == "panic-reply":
			return func() (kmsg.Response, error) { panic("boom in Reply") }
		case name == "error":
			return func() (kmsg.Response, error) { return nil, errors.New("storage on fire") }
		case name == "nil":
			return Done(nil)
		case strings.HasPrefix(name, "delay="):
			delay, _ = time.ParseDuration(strings.TrimPrefix(name, "delay="))
		}
	}
	if delay == 0 {
		return Done(resp)
	}
	return func() (kmsg.Response, error) {
		time.Sleep(delay)
		return resp, nil
	}
}

func metadataReq(version int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// logBuf collects JSON slog output from concurrent goroutines.
type logBuf struct {
	mu sync.Mutex // guards the following
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range bytes.Lines(l.b.Bytes()) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// waitLog waits for a "closing connection" record whose reason contains
// reason, and returns it.
func (l *logBuf) waitLog(t *testing.T, reason string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		for _, r := range l.records(t) {
			if r["msg"] == "closing connection" && strings.Contains(fmt.Sprint(r["reason"]), reason) {
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no log line with reason %q; log:\n%s", reason, l.b.String())
	return nil
}

type testServer struct {
	*Server
	addr string
	logs *logBuf
	h    *fakeHandler
	errc chan error
}

func startServer(t *testing.T, cfg Config, h *fakeHandler) *testServer {
	t.Helper()
	logs := &logBuf{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: New(cfg, h), addr: ln.Addr().String(), logs: logs, h: h, errc: make(chan error, 1)}
	go func() { ts.errc <- ts.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		ts.Shutdown(ctx)
		if err := <-ts.errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

func (ts *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (ts *testServer) waitConns(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for ts.NumConns() != n {
		if time.Now().After(deadline) {
			t.Fatalf("NumConns = %d, want %d", ts.NumConns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func encodeReq(corr int32, req kmsg.Request) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, corr)
}

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readRaw reads one response frame and returns its correlation id and the
// bytes after it.
func readRaw(t *testing.T, c net.Conn) (int32, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitFor))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if len(body) < 4 {
		t.Fatalf("response of %d bytes", len(body))
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:]
}

// readResp reads one response into resp (already at the expected version)
// and checks its correlation id and header.
func readResp(t *testing.T, c net.Conn, wantCorr int32, resp kmsg.Response) {
	t.Helper()
	corr, rest := readRaw(t, c)
	if corr != wantCorr {
		t.Fatalf("correlation id %d, want %d", corr, wantCorr)
	}
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		if len(rest) == 0 || rest[0] != 0 {
			t.Fatalf("flexible response header lacks its empty tag section")
		}
		rest = rest[1:]
	}
	if err := resp.ReadFrom(rest); err != nil {
		t.Fatalf("decoding %T: %v", resp, err)
	}
}

func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitFor))
	n, err := io.Copy(io.Discard, c)
	if err != nil && isTimeout(err) {
		t.Fatalf("connection still open after %v", waitFor)
	}
	if n != 0 {
		t.Fatalf("got %d unexpected bytes before close", n)
	}
}

func topicsOf(resp *kmsg.MetadataResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		out = append(out, *t.Topic)
	}
	return out
}

func TestPipelinedRepliesInOrder(t *testing.T) {
	h := newFakeHandler()
	var (
		fastDone = make(chan struct{})
		order    = make(chan string, 3)
	)
	h.fn = func(_ context.Context, req *Request) Reply {
		name := *req.Body.(*kmsg.MetadataRequest).Topics[0].Topic
		resp := kmsg.NewPtrMetadataResponse()
		resp.Topics = []kmsg.MetadataResponseTopic{{Topic: kmsg.StringPtr(name)}}
		switch name {
		case "slow":
			// Finishes only after the reply behind it: proves
			// replies run concurrently and the writer still waits.
			return func() (kmsg.Response, error) {
				select {
				case <-fastDone:
				case <-time.After(waitFor):
					return nil, errors.New("replies did not run concurrently")
				}
				order <- name
				return resp, nil
			}
		case "fast":
			return func() (kmsg.Response, error) {
				order <- name
				close(fastDone)
				return resp, nil
			}
		default:
			return Done(resp)
		}
	}
	ts := startServer(t, Config{}, h)
	c := ts.dial(t)

	var batch []byte
	for i, name := range []string{"slow", "fast", "ready"} {
		batch = append(batch, encodeReq(int32(i+1), metadataReq(1, name))...)
	}
	write(t, c, batch) // one write: the requests are pipelined

	for i, want := range []string{"slow", "fast", "ready"} {
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(1)
		readResp(t, c, int32(i+1), resp)
		if got := topicsOf(resp); len(got) != 1 || got[0] != want {
			t.Fatalf("response %d topics %v, want [%s]", i+1, got, want)
		}
	}
	if first := <-order; first != "fast" {
		t.Fatalf("%s reply finished first; the test did not exercise reordering", first)
	}
}

func TestFranzGoClient(t *testing.T) {
	h := newFakeHandler()
	ts := startServer(t, Config{}, h)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()

	// franz-go opens with ApiVersions at its newest version (above our 3),
	// gets UNSUPPORTED_VERSION in v0, and retries at our max.
	resp, err := cl.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 || av.Version != 3 || len(av.ApiKeys) != 3 {
		t.Fatalf("ApiVersions v%d error %d keys %v", av.Version, av.ErrorCode, av.ApiKeys)
	}
	var sawUnsupported bool
	for _, r := range h.requests() {
		sawUnsupported = sawUnsupported || (r.Key == apiVersionsKey && r.Unsupported)
	}
	if !sawUnsupported {
		t.Fatal("franz-go did not need the UNSUPPORTED_VERSION downgrade; test is not exercising it")
	}

	// Concurrent requests share one connection; earlier ones are slower.
	broker := cl.SeedBrokers()[0]
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			topic := fmt.Sprintf("delay=%dms", (n-i)*10)
			resp, err := broker.Request(ctx, metadataReq(0, topic))
			if err != nil {
				errs <- err
				return
			}
			if got := topicsOf(resp.(*kmsg.MetadataResponse)); len(got) != 1 || got[0] != topic {
				errs <- fmt.Errorf("asked %s, got %v", topic, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestApiVersionsUnsupportedVersion(t *testing.T) {
	h := newFakeHandler()
	ts := startServer(t, Config{}, h)
	c := ts.dial(t)

	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(99)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	write(t, c, encodeReq(7, req))

	resp := kmsg.NewPtrApiVersionsResponse() // v0
	readResp(t, c, 7, resp)
	if resp.ErrorCode != errUnsupported {
		t.Fatalf("error code %d, want %d", resp.ErrorCode, errUnsupported)
	}
	want := h.apiVersions(&Request{}).ApiKeys
	if fmt.Sprint(resp.ApiKeys) != fmt.Sprint(want) {
		t.Fatalf("api keys %v, want %v", resp.ApiKeys, want)
	}
	got := h.requests()[0]
	if !got.Unsupported || got.Version != 99 || got.Body.GetVersion() != 0 || *got.ClientID != "test" {
		t.Fatalf("handler saw %+v", got)
	}

	// The connection stays usable: the client now retries at v3.
	req.SetVersion(3)
	write(t, c, encodeReq(8, req))
	resp = kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	readResp(t, c, 8, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("v3 error code %d", resp.ErrorCode)
	}
}

// ApiVersions v3+ has a flexible body but response header v0: no tag byte.
func TestApiVersionsResponseHeaderV0(t *testing.T) {
	h := newFakeHandler()
	ts := startServer(t, Config{}, h)
	c := ts.dial(t)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	write(t, c, encodeReq(1, req))

	corr, body := readRaw(t, c)
	want := h.apiVersions(&Request{Version: 3}).AppendTo(nil)
	if corr != 1 || !bytes.Equal(body, want) {
		t.Fatalf("corr %d body %x, want body %x", corr, body, want)
	}
}

// The fake leaves Metadata responses at version 0; the server must encode
// them at the request's version, with a tag byte once flexible (v9+).
func TestResponseEncodedAtRequestVersion(t *testing.T) {
	ts := startServer(t, Config{}, newFakeHandler())
	c := ts.dial(t)
	for i, v := range []int16{1, 9, 12} {
		write(t, c, encodeReq(int32(i), metadataReq(v, "a", "b")))
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(v)
		readResp(t, c, int32(i), resp)
		if got := topicsOf(resp); fmt.Sprint(got) != "[a b]" {
			t.Fatalf("v%d topics %v", v, got)
		}
	}
}

// A nil response (acks=0 produce) sends nothing but keeps its place.
func TestNilResponseWritesNothing(t *testing.T) {
	ts := startServer(t, Config{}, newFakeHandler())
	c := ts.dial(t)
	write(t, c, append(encodeReq(1, metadataReq(1, "nil")), encodeReq(2, metadataReq(1, "x"))...))
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(1)
	readResp(t, c, 2, resp)
}

func TestBadInputClosesConnection(t *testing.T) {
	header := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	}
	for _, tc := range []struct {
		name, reason string
		input        []byte
		closeWrite   bool
		attrs        map[string]any
	}{{
		name:   "oversize",
		input:  binary.BigEndian.AppendUint32(nil, 1025), // and no body
		reason: "request size out of range",
		attrs:  map[string]any{"size": 1025.0, "limit": 1024.0},
	}, {
		name:   "negative size",
		input:  []byte{0xff, 0xff, 0xff, 0xfe},
		reason: "request size out of range",
		attrs:  map[string]any{"size": -2.0, "limit": 1024.0},
	}, {
		name:   "garbage header",
		input:  frame([]byte{1, 2, 3}),
		reason: "too short",
	}, {
		name:   "empty frame",
		input:  frame(nil),
		reason: "too short",
	}, {
		name:   "unknown api key",
		input:  frame(header(9999, 0)),
		reason: "unknown api key 9999",
	}, {
		name:   "unsupported version",
		input:  frame(header(keyMetadata, 99)),
		reason: "unsupported version 99",
	}, {
		name:   "key the handler does not serve",
		input:  encodeReq(1, kmsg.NewPtrFindCoordinatorRequest()),
		reason: "unsupported version",
	}, {
		name:   "truncated body",
		input:  frame(append(header(keyMetadata, 1), 0, 0, 0, 5)), // 5 topics, none sent
		reason: "decoding Metadata v1",
	}, {
		name:   "flexible header without tags",
		input:  frame(header(keyMetadata, 9)),
		reason: "truncated header",
	}, {
		name:       "client gone mid-frame",
		input:      append(binary.BigEndian.AppendUint32(nil, 100), header(keyMetadata, 1)...),
		closeWrite: true,
		reason:     "mid-request",
	}, {
		name:   "reply error",
		input:  encodeReq(1, metadataReq(1, "error")),
		reason: "storage on fire",
	}, {
		name:   "handler answers with the wrong key",
		input:  encodeReq(1, metadataReq(1, "wrong-key")),
		reason: "with a ApiVersions response",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHandler()
			h.fn = func(_ context.Context, req *Request) Reply {
				if *req.Body.(*kmsg.MetadataRequest).Topics[0].Topic == "wrong-key" {
					return Done(kmsg.NewPtrApiVersionsResponse())
				}
				return echoMetadata(req)
			}
			ts := startServer(t, Config{MaxRequestBytes: 1024}, h)
			c := ts.dial(t)
			write(t, c, tc.input)
			if tc.closeWrite {
				c.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, c)
			rec := ts.logs.waitLog(t, tc.reason)
			if rec["conn"] == nil || rec["remote"] == nil {
				t.Errorf("log record lacks conn or remote: %v", rec)
			}
			for k, v := range tc.attrs {
				if rec[k] != v {
					t.Errorf("log %s = %v, want %v", k, rec[k], v)
				}
			}
			ts.waitConns(t, 0)
		})
	}
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	for _, topic := range []string{"panic", "panic-reply"} {
		t.Run(topic, func(t *testing.T) {
			ts := startServer(t, Config{}, newFakeHandler())
			bystander := ts.dial(t)
			write(t, bystander, encodeReq(1, metadataReq(1, "x")))
			readResp(t, bystander, 1, &kmsg.MetadataResponse{Version: 1})

			c := ts.dial(t)
			write(t, c, encodeReq(1, metadataReq(1, topic)))
			expectClosed(t, c)
			rec := ts.logs.waitLog(t, "boom in")
			if rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["stack"]), "goroutine") {
				t.Fatalf("panic not logged at ERROR with a stack: %v", rec)
			}

			write(t, bystander, encodeReq(2, metadataReq(1, "y")))
			readResp(t, bystander, 2, &kmsg.MetadataResponse{Version: 1})
			fresh := ts.dial(t)
			write(t, fresh, encodeReq(1, metadataReq(1, "z")))
			readResp(t, fresh, 1, &kmsg.MetadataResponse{Version: 1})
		})
	}
}

func TestBackPressure(t *testing.T) {
	h := newFakeHandler()
	release := make(chan struct{})
	h.fn = func(_ context.Context, req *Request) Reply {
		return func() (kmsg.Response, error) {
			<-release
			return echoMetadata(req)()
		}
	}
	ts := startServer(t, Config{MaxInflightPerConn: 2}, h)
	c := ts.dial(t)
	var batch []byte
	for i := range 5 {
		batch = append(batch, encodeReq(int32(i), metadataReq(1, fmt.Sprint(i)))...)
	}
	write(t, c, batch)

	deadline := time.Now().Add(waitFor)
	for h.handled.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a wrong third read
	if n := h.handled.Load(); n != 2 {
		t.Fatalf("handled %d requests with 2 allowed in flight", n)
	}
	close(release)
	for i := range 5 {
		resp := &kmsg.MetadataResponse{Version: 1}
		readResp(t, c, int32(i), resp)
		if got := topicsOf(resp); got[0] != fmt.Sprint(i) {
			t.Fatalf("response %d for topic %v", i, got)
		}
	}
}

func TestShutdownWaitsForInflightReply(t *testing.T) {
	h := newFakeHandler()
	var (
		started = make(chan struct{})
		release = make(chan struct{})
	)
	h.fn = func(_ context.Context, req *Request) Reply {
		close(started)
		return func() (kmsg.Response, error) {
			<-release
			return echoMetadata(req)()
		}
	}
	ts := startServer(t, Config{}, h)
	c := ts.dial(t)
	write(t, c, encodeReq(1, metadataReq(1, "slow")))
	<-started

	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	// Once every connection stops reading, a new request is ignored.
	deadline := time.Now().Add(waitFor)
	for !allStopping(ts.Server) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	write(t, c, encodeReq(2, metadataReq(1, "late")))
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a reply in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("new connection accepted during Shutdown")
	}

	close(release)
	readResp(t, c, 1, &kmsg.MetadataResponse{Version: 1})
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	expectClosed(t, c)
	if n := ts.NumConns(); n != 0 {
		t.Fatalf("%d connections open after Shutdown", n)
	}
	if n := h.handled.Load(); n != 1 {
		t.Fatalf("handled %d requests, want 1", n)
	}
}

func allStopping(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.isStopping() {
			return false
		}
	}
	return true
}

func TestShutdownGivesUpAtDeadline(t *testing.T) {
	h := newFakeHandler()
	release := make(chan struct{})
	h.fn = func(_ context.Context, req *Request) Reply {
		return func() (kmsg.Response, error) {
			<-release
			return echoMetadata(req)()
		}
	}
	ts := startServer(t, Config{}, h)
	t.Cleanup(func() { close(release) }) // runs before the server's cleanup
	c := ts.dial(t)
	write(t, c, encodeReq(1, metadataReq(1, "stuck")))
	for h.handled.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	expectClosed(t, c)
	if n := ts.NumConns(); n != 0 {
		t.Fatalf("%d connections open after Shutdown", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: 100 * time.Millisecond}, newFakeHandler())

	// A reply slower than the idle timeout does not count as idle.
	busy := ts.dial(t)
	write(t, busy, encodeReq(1, metadataReq(1, "delay=300ms")))
	readResp(t, busy, 1, &kmsg.MetadataResponse{Version: 1})

	start := time.Now()
	expectClosed(t, busy)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("closed %v after the last response, before the idle timeout", d)
	}
	ts.logs.waitLog(t, "idle timeout")

	silent := ts.dial(t)
	expectClosed(t, silent)
	ts.waitConns(t, 0)
}

func TestServeAfterShutdown(t *testing.T) {
	s := New(Config{}, newFakeHandler())
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
}

func TestReadBody(t *testing.T) {
	for _, n := range []int{0, 10, 1 << 20, firstStep, firstStep + 1, 2*firstStep + 3} {
		src := bytes.Repeat([]byte{7}, n)
		got, err := readBody(bufio.NewReader(bytes.NewReader(src)), n)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("n=%d: %d bytes, err %v", n, len(got), err)
		}
		if _, err := readBody(bytes.NewReader(src), n+1); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("n=%d short read: err %v", n, err)
		}
	}
}

// answerLater is the common handler shape: Done called from a helper that
// the compiler may inline.
func answerLater(resp kmsg.Response) Reply { return Done(resp) }

func TestDoneIsRecognized(t *testing.T) {
	if !isDone(Done(nil)) || !isDone(answerLater(kmsg.NewPtrMetadataResponse())) {
		t.Fatal("Done reply not recognized: every reply would pay for a goroutine")
	}
	var r Reply = func() (kmsg.Response, error) { return nil, nil }
	if isDone(r) {
		t.Fatal("closure mistaken for Done")
	}
}
