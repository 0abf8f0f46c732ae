package api

// IncrementalAlterConfigs, versions 0-1.
//
// As Kafka: on a TOPIC resource, SET overrides a setting, DELETE reverts it
// to its default, APPEND and SUBTRACT add to or remove from a LIST setting
// (cleanup.policy, ...), starting from its effective value (INVALID_CONFIG
// on other settings); SET, APPEND and SUBTRACT need a value and a name may
// appear once per resource (INVALID_REQUEST); the resulting set of
// overrides is validated like CreateTopics' (INVALID_CONFIG). An invalid
// name is INVALID_TOPIC_EXCEPTION, an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION; a resource named twice gets one
// INVALID_REQUEST answer and is left alone; ValidateOnly runs every check
// and changes nothing.
//
// GROUP resources (KIP-848/932 group configs) take the share group configs
// (share.auto.offset.reset, share.record.lock.duration.ms, ...; see
// shares.go): SET and DELETE, unknown names INVALID_CONFIG.
//
// Deviations: BROKER resources are INVALID_REQUEST, because Weir has no
// dynamic broker configs yet (Kafka allows them); BROKER_LOGGER and the
// other resource types are INVALID_REQUEST too.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	// Altering writes metadata: do it off the connection's read loop.
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
		forEachResource(len(req.Resources), func(i int) configResource {
			return configResource{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
		}, func(i int, dup bool) {
			rr := &req.Resources[i]
			st := kmsg.NewIncrementalAlterConfigsResponseResource()
			st.ResourceType = rr.ResourceType
			st.ResourceName = rr.ResourceName
			err := errDuplicateResource
			if !dup {
				err = b.incrementalAlterConfigs(ctx, rr, req.ValidateOnly)
			}
			st.ErrorCode, st.ErrorMessage = adminError(err)
			resp.Resources = append(resp.Resources, st)
		})
		return resp, nil
	}
}

func (b *Broker) incrementalAlterConfigs(ctx context.Context, rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return errDynamicBrokerConfigs
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigs(ctx, rr, validateOnly) // share group configs, shares.go
	default:
		return unsupportedResource(rr.ResourceType)
	}
	ops := make([]config.Alter, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		ops = append(ops, config.Alter{Name: c.Name, Op: c.Op, Value: c.Value})
	}
	// The new overrides derive from the current ones. The engine replaces
	// them whole, guarded by the revision of the topic it holds, not of the
	// one we read, so look again before writing and start over when the
	// topic changed in between; the window left is between that look and
	// the engine's.
	for range 10 {
		t, err := b.alterableTopic(rr.ResourceName)
		if err != nil {
			return err
		}
		configs, err := config.AlterTopicIncremental(t.Configs, b.cfg, ops)
		if err != nil || validateOnly {
			return err
		}
		if b.eng.Topic(t.Name) != t {
			continue
		}
		return b.eng.SetTopicConfigs(ctx, t.Name, configs)
	}
	return engine.ErrConcurrentMetadata
}
