package server_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirdb/weir/internal/server"
)

func helper(r kmsg.Response) server.Reply { return server.Done(r) }

func TestExtDone(t *testing.T) {
	if !server.IsDoneForTest(helper(nil)) || !server.IsDoneForTest(server.Done(kmsg.NewPtrMetadataResponse())) {
		t.Fatal("not recognized across packages")
	}
}
