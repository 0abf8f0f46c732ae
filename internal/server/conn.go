package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	readBufSize = 64 << 10
	// flushBytes caps how much the writer batches before writing, so a
	// run of ready responses goes out in few syscalls without one huge
	// buffer per connection.
	flushBytes = 64 << 10
	// keepWriteBuf is the largest write buffer kept between flushes; a
	// rare big fetch response should not pin its buffer for the life of
	// the connection.
	keepWriteBuf = 1 << 20
)

// aLongTimeAgo is a read deadline that has already passed: setting it
// unblocks a pending Read at once.
var aLongTimeAgo = time.Unix(1, 0)

// closedChan is the done channel of slots filled before they are queued,
// so the fast path allocates no channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// conn is one client connection and its read and write loops.
type conn struct {
	srv  *Server
	nc   net.Conn
	info *ConnInfo
	log  *slog.Logger

	// ctx is handed to Handler.Handle; cancel runs when the connection
	// closes.
	ctx    context.Context
	cancel context.CancelFunc

	// queue carries one slot per request, in arrival order, from the
	// reader to the writer. Only the reader sends on or closes it.
	queue chan *slot
	// sem holds one token per request read (or being read) and not yet
	// answered. The reader takes a token before reading a frame and the
	// writer returns it after the response, so at most cap(sem) requests
	// are outstanding and queue sends never block.
	sem chan struct{}
	// pending counts requests queued but not yet written; the idle
	// check leaves a connection alone while it has work in flight.
	pending atomic.Int32
	// lastWrite is the UnixNano of the last response answered or
	// written, so a long reply finished just now restarts the idle clock.
	lastWrite atomic.Int64

	dead      chan struct{} // closed by close
	closeOnce sync.Once
	writeDone chan struct{} // closed when writeLoop returns

	mu       sync.Mutex // guards the following
	stopping bool       // set by Shutdown; no more requests are read
}

// slot is the place of one request in the response order.
type slot struct {
	corr    int32
	key     int16
	version int16         // version the response is encoded at
	done    chan struct{} // closed once resp and err are set
	resp    kmsg.Response
	err     error
}

func newConn(s *Server, nc net.Conn) *conn {
	id := s.nextConnID.Add(1)
	ctx, cancel := context.WithCancel(s.baseCtx)
	n := s.cfg.MaxInflightPerConn
	return &conn{
		srv:       s,
		nc:        nc,
		info:      &ConnInfo{ID: id, Remote: nc.RemoteAddr(), Local: nc.LocalAddr()},
		log:       s.log.With("conn", id, "remote", addrString(nc.RemoteAddr())),
		ctx:       ctx,
		cancel:    cancel,
		queue:     make(chan *slot, n),
		sem:       make(chan struct{}, n),
		dead:      make(chan struct{}),
		writeDone: make(chan struct{}),
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// close closes the connection once, logging reason as the first cause;
// later calls are no-ops so the root cause is what gets logged.
func (c *conn) close(level slog.Level, reason string, attrs ...any) {
	c.closeOnce.Do(func() {
		c.log.Log(context.Background(), level, "closing connection", append([]any{"reason", reason}, attrs...)...)
		c.cancel()
		c.nc.Close()
		close(c.dead)
		c.srv.forget(c)
	})
}

// closeErr closes the connection for err, at Error with the stack if err
// is a recovered panic (a bug on our side) and at Warn otherwise (a client
// or handler refusal worth seeing).
func (c *conn) closeErr(err error) {
	var pe *panicError
	if errors.As(err, &pe) {
		c.close(slog.LevelError, err.Error(), "stack", string(pe.stack))
		return
	}
	c.close(slog.LevelWarn, err.Error())
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// stopReading makes the reader return before reading another request,
// interrupting a blocked read. Taking mu orders this against
// armReadDeadline, so the reader cannot re-arm a later deadline over ours.
func (c *conn) stopReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	c.nc.SetReadDeadline(aLongTimeAgo)
}

func (c *conn) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// armReadDeadline sets the read deadline to t, or reports false if the
// connection is stopping.
func (c *conn) armReadDeadline(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	if c.srv.cfg.IdleTimeout < 0 {
		t = time.Time{}
	}
	c.nc.SetReadDeadline(t)
	return true
}

func (c *conn) readLoop() {
	defer c.srv.connWG.Done()
	// No more slots: the writer drains what is queued and returns.
	defer close(c.queue)

	br := bufio.NewReaderSize(c.nc, readBufSize)
	for {
		select {
		case c.sem <- struct{}{}:
		case <-c.dead:
			return
		case <-c.srv.stopping:
			return
		}
		frame, ok := c.readFrame(br)
		if !ok {
			return
		}
		req, err := parseRequest(frame, c.srv.h.Supported)
		if err != nil {
			c.closeErr(err)
			return
		}
		req.Conn = c.info
		if !c.dispatch(req) {
			return
		}
	}
}

// readFrame returns the next request frame, without its size prefix. On
// false the connection is closed or stopping.
func (c *conn) readFrame(br *bufio.Reader) ([]byte, bool) {
	idle := c.srv.cfg.IdleTimeout
	deadline := time.Now().Add(idle)
	var hdr []byte
	for {
		if !c.armReadDeadline(deadline) {
			return nil, false
		}
		var err error
		// Peek, not Read: on a deadline the bytes already received
		// stay buffered, so the idle check can re-arm and resume.
		hdr, err = br.Peek(4)
		if err == nil {
			break
		}
		if !isTimeout(err) {
			if errors.Is(err, io.EOF) && br.Buffered() > 0 {
				err = io.ErrUnexpectedEOF // part of a size prefix came
			}
			c.closeRead(err)
			return nil, false
		}
		if c.isStopping() {
			return nil, false
		}
		now := time.Now()
		if c.pending.Load() > 0 {
			deadline = now.Add(idle)
			continue
		}
		if last := time.Unix(0, c.lastWrite.Load()).Add(idle); last.After(now) {
			deadline = last
			continue
		}
		c.close(slog.LevelInfo, "idle timeout", "idle", idle)
		return nil, false
	}

	size := int32(binary.BigEndian.Uint32(hdr))
	br.Discard(4)
	if limit := c.srv.cfg.MaxRequestBytes; size < 0 || size > limit {
		// The body is never read: a bad size is either garbage or a
		// client we refuse to buffer for.
		c.close(slog.LevelWarn, "request size out of range", "size", size, "limit", limit)
		return nil, false
	}
	if !c.armReadDeadline(time.Now().Add(idle)) {
		return nil, false
	}
	frame, err := readBody(br, int(size))
	if err != nil {
		if isTimeout(err) && c.isStopping() {
			return nil, false // Shutdown closes the connection
		}
		c.closeRead(err)
		return nil, false
	}
	return frame, true
}

func (c *conn) closeRead(err error) {
	switch {
	case errors.Is(err, io.EOF):
		c.close(slog.LevelDebug, "client closed connection")
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.close(slog.LevelInfo, "client closed connection mid-request")
	case isTimeout(err):
		c.close(slog.LevelInfo, "timed out reading request")
	default:
		c.close(slog.LevelDebug, "read failed: "+err.Error())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readBody reads n bytes. Beyond firstStep, memory grows with the bytes
// that actually arrive, so a client that merely claims a large size cannot
// make us allocate it. The buffer is never reused: kmsg's ReadFrom keeps
// sub-slices of it (record batches, for one) in the decoded request.
func readBody(r io.Reader, n int) ([]byte, error) {
	b, err := readFull(r, n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the size prefix was read: we are mid-frame
	}
	return b, err
}

// firstStep is the most readFull allocates for a frame before any of it
// has arrived. Up to it a frame is read into a buffer of its exact size,
// copied and zeroed once; a frame that started smaller (1 MiB) and doubled
// cost 14 % of the broker's CPU at 460 MiB/s of produce with franz-go's
// 8-partition requests of about 8 MiB (docs/benchmarks.md). A claimed
// size that never arrives pins at most this much per connection until the
// idle timeout; Kafka allocates any size it accepts at once.
const firstStep = 16 << 20

func readFull(r io.Reader, n int) ([]byte, error) {
	if n <= firstStep {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, firstStep)
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b))) // doubles
		}
		m, err := io.ReadFull(r, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// dispatch hands req to the handler and queues its slot; false means the
// connection was closed.
func (c *conn) dispatch(req *Request) bool {
	s := &slot{corr: req.CorrelationID, key: req.Key, version: req.Version}
	if req.Unsupported {
		s.version = 0 // see Request.Unsupported
	}
	reply, err := c.handle(req)
	if err == nil && reply == nil {
		err = fmt.Errorf("handler returned a nil Reply for %s v%d", kmsg.NameForKey(req.Key), req.Version)
	}
	if err != nil {
		c.closeErr(err)
		return false
	}

	c.pending.Add(1)
	if isDone(reply) {
		s.resp, s.err = runReply(reply)
		s.done = closedChan
	} else {
		s.done = make(chan struct{})
		c.srv.replyWG.Add(1)
		go func() {
			defer c.srv.replyWG.Done()
			s.resp, s.err = runReply(reply)
			close(s.done)
		}()
	}
	select {
	case c.queue <- s:
		return true
	case <-c.dead:
		return false
	}
}

func (c *conn) handle(req *Request) (reply Reply, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError("handling "+kmsg.NameForKey(req.Key), v)
		}
	}()
	return c.srv.h.Handle(c.ctx, req), nil
}

func runReply(r Reply) (resp kmsg.Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError("reply", v)
		}
	}()
	return r()
}

func (c *conn) writeLoop() {
	defer c.srv.connWG.Done()
	defer close(c.writeDone)

	var buf []byte
	for !c.isDead() {
		var s *slot
		var ok bool
		select {
		case s, ok = <-c.queue:
		default:
			// Nothing queued: send what is batched before blocking.
			if !c.flush(&buf) {
				return
			}
			select {
			case s, ok = <-c.queue:
			case <-c.dead:
				return
			}
		}
		if !ok {
			c.flush(&buf)
			return
		}

		select {
		case <-s.done:
		default:
			// The next reply is not ready: do not hold the ones
			// that are hostage to it.
			if !c.flush(&buf) {
				return
			}
			select {
			case <-s.done:
			case <-c.dead:
				return
			}
		}
		if s.err != nil {
			c.closeErr(fmt.Errorf("reply to %s v%d: %w", kmsg.NameForKey(s.key), s.version, s.err))
			return
		}
		if s.resp != nil {
			var err error
			if buf, err = appendResponse(buf, s); err != nil {
				c.closeErr(err)
				return
			}
			if len(buf) >= flushBytes && !c.flush(&buf) {
				return
			}
		}
		// Store before the decrement: an idle check that sees
		// pending drop to zero must also see this answer's time.
		c.lastWrite.Store(time.Now().UnixNano())
		c.pending.Add(-1)
		<-c.sem
	}
}

// flush writes the batched responses; false means the connection is closed.
func (c *conn) flush(buf *[]byte) bool {
	if len(*buf) == 0 {
		return true
	}
	// A client that stops reading its responses is as good as idle.
	if idle := c.srv.cfg.IdleTimeout; idle > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(idle))
	}
	_, err := c.nc.Write(*buf)
	c.lastWrite.Store(time.Now().UnixNano()) // a slow client's write counts as activity
	if cap(*buf) > keepWriteBuf {
		*buf = nil
	} else {
		*buf = (*buf)[:0]
	}
	if err != nil {
		c.close(slog.LevelDebug, "write failed: "+err.Error())
		return false
	}
	return true
}

// appendResponse appends s's response frame to dst: size, correlation id,
// the response header's tag byte if flexible, then the body.
func appendResponse(dst []byte, s *slot) (out []byte, err error) {
	resp := s.resp
	if resp.Key() != s.key {
		return dst, fmt.Errorf("handler answered %s with a %s response", kmsg.NameForKey(s.key), kmsg.NameForKey(resp.Key()))
	}
	defer func() {
		if v := recover(); v != nil {
			out, err = dst, newPanicError("encoding "+kmsg.NameForKey(s.key), v)
		}
	}()
	// Only write when needed: a handler may share one response value
	// (a cached ApiVersions, say) across connections.
	if resp.GetVersion() != s.version {
		resp.SetVersion(s.version)
	}
	start := len(dst)
	out = binary.BigEndian.AppendUint32(dst, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(s.corr))
	// ApiVersions responses always use header v0, even when the body is
	// flexible: a client that does not yet know our versions must be
	// able to read it.
	if resp.IsFlexible() && s.key != apiVersionsKey {
		out = append(out, 0) // no header tagged fields
	}
	out = resp.AppendTo(out)
	size := len(out) - start - 4
	if size > math.MaxInt32 {
		return dst, fmt.Errorf("%s response of %d bytes is too large to frame", kmsg.NameForKey(s.key), size)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(size))
	return out, nil
}

// panicError is a recovered panic, kept with its stack for the log.
type panicError struct {
	where string
	val   any
	stack []byte
}

func newPanicError(where string, v any) *panicError {
	return &panicError{where: where, val: v, stack: debug.Stack()}
}

func (e *panicError) Error() string { return fmt.Sprintf("panic %s: %v", e.where, e.val) }
