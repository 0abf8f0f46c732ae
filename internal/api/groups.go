package api

// Helpers shared by the group coordinator APIs (08, 09, 10-16, 42, 47).

import (
	"context"
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

// groupOperations are the ACL operations on a group, as a DescribeGroups
// bitfield: READ, DELETE, DESCRIBE.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// groupCode is the wire code of an error from the group coordinator.
func groupCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// clientHost is the member's host as Kafka reports it: "/" and the IP.
func clientHost(r *server.Request) string {
	if r.Conn == nil || r.Conn.Remote == nil {
		return ""
	}
	host := r.Conn.Remote.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return "/" + host
}

func clientID(r *server.Request) string {
	if r.ClientID == nil {
		return ""
	}
	return *r.ClientID
}

// knownPartition reports whether the topic exists and has partition p.
func knownPartition(t *engine.Topic, p int32) bool { return partitionOf(t, p) != nil }
