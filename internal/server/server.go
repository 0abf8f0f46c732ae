// Package server is Weir's Kafka wire-protocol TCP front end: it frames and
// decodes requests with kmsg, hands them to a Handler, and writes the
// responses back in request order.
//
// Each connection has exactly two long-lived goroutines, both owned by the
// Server and counted in its WaitGroup:
//
//	read:  frame -> parseRequest -> Handler.Handle -> queue a slot
//	write: take slots in order -> wait for each -> encode -> write
//
// A Reply that may block runs on its own goroutine and fills its slot; the
// writer waits on slots strictly in queue order, so responses leave in the
// order requests arrived no matter which Reply finishes first. At most
// MaxInflightPerConn requests are outstanding per connection: the reader
// stops reading the socket until the writer frees a slot, which pushes back
// on the client through TCP.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults match Kafka's broker settings of the same meaning.
const (
	DefaultMaxRequestBytes    = 100 << 20 // socket.request.max.bytes
	DefaultMaxInflightPerConn = 100
	DefaultIdleTimeout        = 10 * time.Minute // connections.max.idle.ms
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Config tunes a Server. Zero values take the defaults above.
type Config struct {
	// MaxRequestBytes is the largest request frame accepted
	// (socket.request.max.bytes); larger frames close the connection
	// before their body is read.
	MaxRequestBytes int32
	// MaxInflightPerConn bounds the requests read but not yet answered
	// on one connection; at the bound the server stops reading.
	MaxInflightPerConn int
	// IdleTimeout closes connections with no request and nothing in
	// flight for this long (connections.max.idle.ms). Negative disables.
	IdleTimeout time.Duration
	// Logger receives connection-level events; nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxInflightPerConn <= 0 {
		c.MaxInflightPerConn = DefaultMaxInflightPerConn
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server accepts Kafka client connections and serves them with a Handler.
type Server struct {
	cfg Config
	h   Handler
	log *slog.Logger

	// baseCtx parents every connection's context; it is cancelled once
	// Shutdown closes the connections.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	// stopping is closed when Shutdown begins, so readers blocked on
	// back-pressure give up instead of reading more requests.
	stopping chan struct{}
	stopOnce sync.Once

	// connWG counts read and write loops. Adds happen under mu while
	// closed is false, so they never race Shutdown's Wait.
	connWG sync.WaitGroup
	// replyWG counts Reply goroutines. Replies run handler code that may
	// block, so Shutdown waits for them only until its ctx is done.
	replyWG sync.WaitGroup

	nextConnID atomic.Uint64

	mu        sync.Mutex // guards the following
	listeners map[net.Listener]struct{}
	addr      net.Addr
	conns     map[*conn]struct{}
	closed    bool
}

// New returns a Server that serves h. Start it with Serve or ListenAndServe.
func New(cfg Config, h Handler) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:        cfg,
		h:          h,
		log:        cfg.Logger,
		baseCtx:    ctx,
		cancelBase: cancel,
		stopping:   make(chan struct{}),
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[*conn]struct{}),
	}
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Shutdown, then returns
// ErrServerClosed. It closes ln on return.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			// Running out of file descriptors is temporary; spin
			// slowly rather than give up the listener, as net/http
			// does.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.stopping:
				}
				continue
			}
			return err
		}
		backoff = 0
		s.startConn(nc)
	}
}

// Addr is the address of the first listener passed to Serve, or nil before
// Serve has started.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// NumConns reports how many client connections are open.
func (s *Server) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting connections and reading requests, lets the
// requests already read be answered and written until ctx is done, then
// closes every connection and waits for the server's goroutines. It returns
// ctx.Err() if ctx ended before every reply was written.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := s.snapshotConnsLocked()
	s.mu.Unlock()

	s.stopOnce.Do(func() { close(s.stopping) })
	for _, c := range conns {
		c.stopReading()
	}

	// A writer exits once its reader has stopped and every queued reply
	// has been written, or once its connection died.
	var err error
drain:
	for _, c := range conns {
		select {
		case <-c.writeDone:
		case <-ctx.Done():
			err = ctx.Err()
			break drain
		}
	}

	s.mu.Lock()
	conns = s.snapshotConnsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.close(slog.LevelDebug, "server shutting down")
	}
	s.cancelBase()
	s.connWG.Wait()

	// Every reader has returned, so replyWG sees no more Adds. If ctx
	// ends first, this helper outlives Shutdown until the stuck Replies
	// return: there is no way to stop handler code from here.
	replies := make(chan struct{})
	go func() {
		s.replyWG.Wait()
		close(replies)
	}()
	select {
	case <-replies:
	case <-ctx.Done():
		err = ctx.Err()
	}
	return err
}

func (s *Server) snapshotConnsLocked() []*conn {
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) startConn(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		c.cancel()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(2)
	s.mu.Unlock()

	c.log.Debug("connection opened")
	go c.readLoop()
	go c.writeLoop()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
