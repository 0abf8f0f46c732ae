package api

// ApiVersions, versions 0-4.
//
// The advertised list is built from the handlers registered in this
// package, so it never names an API that is not implemented. A request of a
// version above ours is answered in version 0 with UNSUPPORTED_VERSION and
// the full list (the server decodes it as v0), which is how clients
// negotiate down. v3+ client software names and versions are validated as
// Kafka does (INVALID_REQUEST when they do not match its pattern).

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(18, 0, 4, handleAPIVersions) }

var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleAPIVersions(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = Versions()
	switch {
	case r.Unsupported:
		resp.SetVersion(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	case r.Version >= 3 && (!softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion)):
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return server.Done(resp)
}
