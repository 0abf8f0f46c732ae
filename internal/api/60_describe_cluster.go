package api

// DescribeCluster, versions 0-2.
//
// As Kafka (KIP-700, KIP-919, KIP-1073): the cluster ID, the controller and
// the brokers. v1 EndpointType 1 (brokers) is answered; 2 (controllers) is
// MISMATCHED_ENDPOINT_TYPE, since this is a broker endpoint, and any other
// value UNSUPPORTED_ENDPOINT_TYPE. v2 IncludeFencedBrokers changes nothing:
// a running broker is never fenced from itself. The cluster's authorized
// operations are sent only when asked for.
//
// Deviations: a single-node cluster, so the broker is also the controller
// and the only broker listed; no rack. With no ACLs yet, every cluster
// operation is reported as authorized.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(60, 0, 2, handleDescribeCluster) }

// describeClusterOps are the operations a CLUSTER resource supports, as a
// bitfield of ACL operation codes (Kafka's AclEntry.supportedOperations).
const describeClusterOps = 1<<kmsg.ACLOperationCreate | 1<<kmsg.ACLOperationClusterAction |
	1<<kmsg.ACLOperationDescribeConfigs | 1<<kmsg.ACLOperationAlterConfigs |
	1<<kmsg.ACLOperationIdempotentWrite | 1<<kmsg.ACLOperationAlter | 1<<kmsg.ACLOperationDescribe

const (
	endpointBrokers     = 1
	endpointControllers = 2
)

func handleDescribeCluster(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if r.Version >= 1 && req.EndpointType != endpointBrokers {
		if req.EndpointType == endpointControllers {
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
			resp.ErrorMessage = kmsg.StringPtr("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
		} else {
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Unsupported endpoint type %d", req.EndpointType))
		}
		return server.Done(resp)
	}
	resp.EndpointType = endpointBrokers
	resp.ClusterID = b.eng.ClusterID()
	resp.ControllerID = b.eng.NodeID()
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID = b.eng.NodeID()
	br.Host = b.host
	br.Port = b.port
	resp.Brokers = append(resp.Brokers, br)
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = describeClusterOps
	}
	return server.Done(resp)
}
