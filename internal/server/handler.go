package server

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded Kafka request as the API layer sees it.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	// Body is decoded at Version. For an ApiVersions request whose version
	// is not supported, Body is a version-0 ApiVersionsRequest and
	// Unsupported is true: Kafka answers such a request in version 0 with
	// UNSUPPORTED_VERSION and its supported ranges, so old and new clients
	// can both negotiate.
	Body        kmsg.Request
	Unsupported bool
	Conn        *ConnInfo
}

// ConnInfo identifies the client connection a request came from.
type ConnInfo struct {
	ID     uint64
	Remote net.Addr
	Local  net.Addr
}

// Reply completes a request. It runs on its own goroutine, so it may block
// (waiting for the WAL, or a fetch long-poll). A nil response with a nil
// error sends nothing (acks=0 produce). An error closes the connection and is
// logged as the reason. The server encodes the response at the request's
// version, calling SetVersion only if the response's version differs, so a
// response value shared between requests must already carry the right one.
type Reply func() (kmsg.Response, error)

// Handler is the API layer as the server sees it.
type Handler interface {
	// Supported reports whether version of key is implemented.
	Supported(key, version int16) bool
	// Handle is called on the connection's read goroutine, one request at a
	// time in arrival order, so work that must follow request order (such as
	// assigning offsets to produced batches) happens here. It must not block
	// for long: slow work goes into the returned Reply. ctx is cancelled when
	// the connection closes or the server stops.
	Handle(ctx context.Context, req *Request) Reply
}

// Done wraps a response that is already complete. The server recognizes
// replies made by Done and sends them without starting a goroutine.
func Done(resp kmsg.Response) Reply {
	// A method value, not a closure: its code pointer stays the same
	// when Done is inlined, which is how the server tells it apart.
	return doneReply{resp}.reply
}

type doneReply struct{ resp kmsg.Response }

func (d doneReply) reply() (kmsg.Response, error) { return d.resp, nil }
