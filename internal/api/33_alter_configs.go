package api

// AlterConfigs, versions 0-2.
//
// As Kafka: a TOPIC resource's configs replace the topic's whole set of
// overrides (settings left out revert to their defaults), validated like
// CreateTopics' (INVALID_CONFIG, null values included); an invalid name is
// INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION; a
// resource named twice gets one INVALID_REQUEST answer and is left alone;
// ValidateOnly runs every check and changes nothing.
//
// Deviations: BROKER resources are INVALID_REQUEST, because Weir has no
// dynamic broker configs yet (Kafka allows them; Weir's broker settings come
// from the config file and --set); other resource types are INVALID_REQUEST
// too. A config name given twice in one resource is INVALID_REQUEST instead
// of last-one-wins.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	// Altering writes metadata: do it off the connection's read loop.
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
		forEachResource(len(req.Resources), func(i int) configResource {
			return configResource{req.Resources[i].ResourceType, req.Resources[i].ResourceName}
		}, func(i int, dup bool) {
			rr := &req.Resources[i]
			st := kmsg.NewAlterConfigsResponseResource()
			st.ResourceType = rr.ResourceType
			st.ResourceName = rr.ResourceName
			err := errDuplicateResource
			if !dup {
				err = b.alterConfigs(ctx, rr, req.ValidateOnly)
			}
			st.ErrorCode, st.ErrorMessage = adminError(err)
			resp.Resources = append(resp.Resources, st)
		})
		return resp, nil
	}
}

func (b *Broker) alterConfigs(ctx context.Context, rr *kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return errDynamicBrokerConfigs
	default:
		return unsupportedResource(rr.ResourceType)
	}
	t, err := b.alterableTopic(rr.ResourceName)
	if err != nil {
		return err
	}
	m := make(map[string]*string, len(rr.Configs))
	for _, c := range rr.Configs {
		if _, dup := m[c.Name]; dup {
			return adminErrf(kerr.InvalidRequest, "Error due to duplicate config keys: %s", c.Name)
		}
		m[c.Name] = c.Value
	}
	configs, err := config.NormalizeTopicConfigs(m, b.cfg)
	if err != nil || validateOnly {
		return err
	}
	return b.eng.SetTopicConfigs(ctx, t.Name, configs)
}

// ---- helpers shared with IncrementalAlterConfigs ----

// configResource identifies a resource of a config request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

var errDynamicBrokerConfigs = adminErrf(kerr.InvalidRequest,
	"dynamic broker configs are not supported yet: broker settings are static, set in the config file or with --set, and need a restart")

// alterableTopic returns the topic named by a TOPIC config resource.
func (b *Broker) alterableTopic(name string) (*engine.Topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, adminErrf(kerr.InvalidTopicException, "%v", err)
	}
	t := b.eng.Topic(name)
	if t == nil {
		return nil, adminErrf(kerr.UnknownTopicOrPartition, "Topic '%s' does not exist.", name)
	}
	return t, nil
}

var errDuplicateResource error = adminErrf(kerr.InvalidRequest, "Duplicate resource.")

// forEachResource calls fn once per distinct resource of a config request,
// in request order; dup is set when the request names the resource more
// than once, which Kafka answers with INVALID_REQUEST.
func forEachResource(n int, key func(i int) configResource, fn func(i int, dup bool)) {
	count := make(map[configResource]int, n)
	for i := 0; i < n; i++ {
		count[key(i)]++
	}
	answered := make(map[configResource]bool, n)
	for i := 0; i < n; i++ {
		k := key(i)
		if answered[k] {
			continue
		}
		answered[k] = true
		fn(i, count[k] > 1)
	}
}
