package server

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	apiVersionsKey        = 18
	controlledShutdownKey = 7
)

// parseRequest decodes one request frame (without its size prefix). It
// returns an error, never panics, for anything it cannot serve: a short
// header, an unknown key, a version that kmsg or supported rejects, or a
// body that does not decode. The exception is ApiVersions at an unsupported
// version, returned with Unsupported set (see Request).
//
// The returned Body may alias frame.
func parseRequest(frame []byte, supported func(key, version int16) bool) (req *Request, err error) {
	defer func() {
		if v := recover(); v != nil {
			req, err = nil, newPanicError("decoding request", v)
		}
	}()

	r := kbin.Reader{Src: frame}
	key := r.Int16()
	version := r.Int16()
	corr := r.Int32()
	if err := r.Complete(); err != nil {
		return nil, fmt.Errorf("request header of %d bytes is too short", len(frame))
	}
	body := kmsg.RequestForKey(key)
	if body == nil {
		return nil, fmt.Errorf("unknown api key %d", key)
	}
	body.SetVersion(version)
	// Check kmsg's range too: a handler claiming a version kmsg does not
	// know would otherwise get a body decoded at the wrong layout.
	ok := version >= 0 && version <= body.MaxVersion() && supported(key, version)
	if !ok && key != apiVersionsKey {
		return nil, fmt.Errorf("unsupported version %d of %s (key %d)", version, kmsg.NameForKey(key), key)
	}

	var clientID *string
	// ControlledShutdown v0 alone uses request header v0, which has no
	// client id.
	if key != controlledShutdownKey || version != 0 {
		clientID = r.NullableString()
	}
	// Flexible versions use request header v2, which ends in tagged
	// fields. For ApiVersions at an unknown version this follows Kafka:
	// any version from 3 up is assumed flexible.
	if body.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := r.Complete(); err != nil {
		return nil, fmt.Errorf("truncated header of %s v%d", kmsg.NameForKey(key), version)
	}

	req = &Request{Key: key, Version: version, CorrelationID: corr, ClientID: clientID}
	if !ok {
		// The body of an unknown ApiVersions version cannot be read;
		// the handler answers with a v0 response regardless.
		av := kmsg.NewPtrApiVersionsRequest()
		av.SetVersion(0)
		req.Body, req.Unsupported = av, true
		return req, nil
	}
	if err := body.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	req.Body = body
	return req, nil
}

// doneCode is the code pointer shared by every Reply that Done returns.
var doneCode = reflect.ValueOf(Done(nil)).Pointer()

// isDone reports whether r was made by Done, and so returns at once and
// can run on the read goroutine instead of a goroutine of its own. Done
// returns a method value, whose code is one shared wrapper wherever Done
// is inlined. A false negative only costs a goroutine; a false positive
// is impossible, as no other function has that code.
func isDone(r Reply) bool {
	return reflect.ValueOf(r).Pointer() == doneCode
}
