package api

// Helpers shared by the share group APIs (76-79, 90-92, KIP-932) and the
// GROUP config resource of DescribeConfigs and IncrementalAlterConfigs.

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/share"
)

// SetShares gives the API layer its share group coordinator. Call it
// before serving; share APIs answer COORDINATOR_NOT_AVAILABLE without one.
func (b *Broker) SetShares(c *share.Coordinator) { b.shares = c }

// shareCode is the wire code of an error from the share coordinator.
func shareCode(err error) int16 { return groupCode(err) }

// shareMessage is the message of a share coordinator error, if it has
// more to say than its code: what follows the code's own text.
func shareMessage(err error) *string {
	var ke *kerr.Error
	if err == nil || errors.As(err, &ke) && err.Error() == ke.Error() {
		return nil
	}
	msg := err.Error()
	if ke != nil {
		msg = strings.TrimPrefix(msg, ke.Error()+": ")
	}
	return kmsg.StringPtr(msg)
}

// topicName is the name of a topic ID, "" when unknown.
func (b *Broker) topicName(id [16]byte) string {
	if t := b.topicByID(id); t != nil {
		return t.Name
	}
	return ""
}

// alterGroupConfigs applies IncrementalAlterConfigs to a GROUP resource:
// the share group configs (share.auto.offset.reset, ...).
func (b *Broker) alterGroupConfigs(ctx context.Context, rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if b.shares == nil {
		return adminErrf(kerr.CoordinatorNotAvailable, "the share coordinator is not running")
	}
	ops := make([]share.ConfigOp, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		ops = append(ops, share.ConfigOp{Name: c.Name, Op: int8(c.Op), Value: c.Value})
	}
	if err := b.shares.AlterConfigs(ctx, rr.ResourceName, ops, validateOnly); err != nil {
		msg := err.Error()
		if m := shareMessage(err); m != nil {
			msg = *m
		}
		return &adminErr{code: shareCode(err), msg: msg}
	}
	return nil
}

// describeGroupConfigs answers DescribeConfigs for a GROUP resource.
func (b *Broker) describeGroupConfigs(rr *kmsg.DescribeConfigsRequestResource, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if b.shares == nil {
		return nil, adminErrf(kerr.CoordinatorNotAvailable, "the share coordinator is not running")
	}
	if rr.ConfigNames != nil && len(rr.ConfigNames) == 0 {
		return nil, nil
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, e := range b.shares.DescribeConfigs(rr.ResourceName, rr.ConfigNames) {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value = e.Name, kmsg.StringPtr(e.Value)
		c.Source = kmsg.ConfigSourceDefaultConfig
		if e.Dynamic {
			c.Source = kmsg.ConfigSourceGroupConfig
		}
		c.IsDefault = !e.Dynamic
		c.ConfigType = kmsg.ConfigTypeString
		if docs {
			c.Documentation = kmsg.StringPtr("share group config (KIP-932)")
		}
		out = append(out, c)
	}
	return out, nil
}

// shareIdentity checks the group and member IDs that ShareFetch and
// ShareAcknowledge carry: a non-zero code (COORDINATOR_NOT_AVAILABLE,
// INVALID_REQUEST) answers the request. lockMs is the group's acquisition
// lock duration, which both responses report.
func (b *Broker) shareIdentity(groupID, memberID *string) (group, member string, lockMs int32, code int16) {
	if b.shares == nil {
		return "", "", 0, kerr.CoordinatorNotAvailable.Code
	}
	if groupID != nil {
		group = *groupID
	}
	if memberID != nil {
		member = *memberID
	}
	lockMs = int32(b.shares.LockDuration(group).Milliseconds())
	if group == "" || member == "" || len(member) > 36 {
		return group, member, lockMs, kerr.InvalidRequest.Code
	}
	return group, member, lockMs, 0
}
