package api

// DescribeConfigs, versions 0-4.
//
// As Kafka: TOPIC resources describe every topic setting with its effective
// value and source (DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG,
// DEFAULT_CONFIG); an invalid name is INVALID_TOPIC_EXCEPTION, an unknown
// topic UNKNOWN_TOPIC_OR_PARTITION. BROKER resources named with this
// broker's ID describe its settings (all read-only); the empty name means
// the cluster-wide dynamic defaults, of which Weir has none, so it answers
// with no configs; another ID or a non-integer is INVALID_REQUEST. A null
// ConfigNames means every setting, an empty one none, unknown names are
// skipped. Synonyms come with IncludeSynonyms (v1+), documentation with
// IncludeDocumentation (v3+); v0 carries IsDefault instead of the source.
//
// GROUP resources describe the share group configs (shares.go), set ones
// as DYNAMIC_GROUP_CONFIG, the others as DEFAULT_CONFIG.
//
// Deviation: BROKER_LOGGER and the other resource types are
// INVALID_REQUEST (Kafka describes its log4j loggers for BROKER_LOGGER).

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(32, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		st := kmsg.NewDescribeConfigsResponseResource()
		st.ResourceType = rr.ResourceType
		st.ResourceName = rr.ResourceName
		configs, err := b.describeConfigs(rr, req.IncludeSynonyms, req.IncludeDocumentation)
		st.ErrorCode, st.ErrorMessage = adminError(err)
		if err == nil {
			st.Configs = configs
		}
		resp.Resources = append(resp.Resources, st)
	}
	return server.Done(resp)
}

func (b *Broker) describeConfigs(rr *kmsg.DescribeConfigsRequestResource, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := validTopicName(rr.ResourceName); err != nil {
			return nil, adminErrf(kerr.InvalidTopicException, "%v", err)
		}
		t := b.eng.Topic(rr.ResourceName)
		if t == nil {
			return nil, adminErrf(kerr.UnknownTopicOrPartition, "Topic '%s' does not exist.", rr.ResourceName)
		}
		if rr.ConfigNames != nil && len(rr.ConfigNames) == 0 {
			return nil, nil
		}
		return config.DescribeTopic(t.Configs, b.cfg, rr.ConfigNames, synonyms, docs), nil
	case kmsg.ConfigResourceTypeBroker:
		clusterDefault, err := b.brokerResource(rr.ResourceName)
		if err != nil || clusterDefault {
			return nil, err // no dynamic cluster-wide defaults
		}
		if rr.ConfigNames != nil && len(rr.ConfigNames) == 0 {
			return nil, nil
		}
		return config.DescribeBroker(b.cfg, rr.ConfigNames, synonyms, docs), nil
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.describeGroupConfigs(rr, docs) // share group configs, shares.go
	}
	return nil, unsupportedResource(rr.ResourceType)
}

// brokerResource checks the name of a BROKER config resource: this
// broker's ID, or "" for the cluster-wide default (clusterDefault).
func (b *Broker) brokerResource(name string) (clusterDefault bool, err error) {
	if name == "" {
		return true, nil
	}
	id, perr := strconv.ParseInt(name, 10, 32)
	if perr != nil {
		return false, adminErrf(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != b.eng.NodeID() {
		return false, adminErrf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", b.eng.NodeID(), name)
	}
	return false, nil
}

func unsupportedResource(t kmsg.ConfigResourceType) error {
	return adminErrf(kerr.InvalidRequest, "Unsupported resource type: %s (%d)", t, int8(t))
}
