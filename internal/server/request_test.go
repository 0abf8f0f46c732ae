package server

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestFrame is a request as the reader hands it to parseRequest: the
// frame without its size prefix.
func requestFrame(corr int32, req kmsg.Request) []byte {
	return encodeReq(corr, req)[4:]
}

func TestParseRequest(t *testing.T) {
	supported := newFakeHandler().Supported

	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(9)
	produce.Acks = -1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte("opaque batch bytes")
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	req, err := parseRequest(requestFrame(42, produce), supported)
	if err != nil {
		t.Fatal(err)
	}
	got := req.Body.(*kmsg.ProduceRequest)
	if req.Key != keyProduce || req.Version != 9 || req.CorrelationID != 42 || *req.ClientID != "test" ||
		got.Acks != -1 || !bytes.Equal(got.Topics[0].Partitions[0].Records, pp.Records) {
		t.Fatalf("parsed %+v body %+v", req, got)
	}

	// ControlledShutdown v0 has no client id in its header.
	cs := kmsg.NewPtrControlledShutdownRequest()
	cs.BrokerID = 3
	csFrame := []byte{0, controlledShutdownKey, 0, 0, 0, 0, 0, 1} // key, v0, corr 1
	req, err = parseRequest(cs.AppendTo(csFrame), func(int16, int16) bool { return true })
	if err != nil || req.ClientID != nil || req.Body.(*kmsg.ControlledShutdownRequest).BrokerID != 3 {
		t.Fatalf("ControlledShutdown v0: %+v, %v", req, err)
	}
}

func FuzzReadRequest(f *testing.F) {
	av := kmsg.NewPtrApiVersionsRequest()
	for _, v := range []int16{0, 3, 99, -1} {
		av.SetVersion(v)
		f.Add(requestFrame(1, av))
	}
	for _, v := range []int16{0, 1, 9, 12, 13} {
		f.Add(requestFrame(2, metadataReq(v, "a", "")))
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(11)
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: []byte{1, 2, 3}}}}}
	f.Add(requestFrame(3, produce))
	f.Add([]byte{})
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f})

	all := func(int16, int16) bool { return true }
	some := newFakeHandler().Supported
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, supported := range []func(int16, int16) bool{all, some} {
			req, err := parseRequest(frame, supported)
			var pe *panicError
			if errors.As(err, &pe) {
				t.Fatalf("decoder panicked: %v\n%s", pe.val, pe.stack)
			}
			if err != nil {
				continue
			}
			if req.Body == nil || req.Body.Key() != req.Key {
				t.Fatalf("request %+v with body %T", req, req.Body)
			}
			if req.Unsupported != (req.Body.GetVersion() != req.Version) && req.Version != 0 {
				t.Fatalf("Unsupported=%v for v%d with body v%d", req.Unsupported, req.Version, req.Body.GetVersion())
			}
			if req.Unsupported && (req.Key != apiVersionsKey || req.Body.GetVersion() != 0) {
				t.Fatalf("unsupported request %+v", req)
			}
		}
	})
}
