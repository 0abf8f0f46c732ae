package share

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// HeartbeatRequest is a ShareGroupHeartbeat.
type HeartbeatRequest struct {
	Group, Member  string
	Epoch          int32 // 0 joins, -1 leaves
	Rack           *string
	Topics         []string // subscribed topic names; nil when unchanged
	ClientID, Host string
}

// HeartbeatResult answers a heartbeat. Assignment is sent only when
// SendAssignment: to a full request or when it changed.
type HeartbeatResult struct {
	Epoch          int32
	IntervalMs     int32
	SendAssignment bool
	Assignment     []Assigned
}

// Heartbeat is ShareGroupHeartbeat: members join with epoch 0 and a
// subscription, heartbeat with their epoch and leave with -1. Every member
// is assigned every partition of the topics it subscribes to (a share
// group shares partitions); the group epoch moves when membership or an
// assignment changes.
func (c *Coordinator) Heartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResult, error) {
	switch {
	case strings.TrimSpace(req.Group) == "":
		return HeartbeatResult{}, errorf(kerr.InvalidRequest, "GroupId can't be empty.")
	case req.Member == "" || len(req.Member) > 36:
		return HeartbeatResult{}, errorf(kerr.InvalidRequest, "MemberId must be 1 to 36 characters.")
	case req.Epoch < -1:
		return HeartbeatResult{}, errorf(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.Epoch == 0 && len(req.Topics) == 0:
		return HeartbeatResult{}, errorf(kerr.InvalidRequest, "SubscribedTopicNames must be set in first request.")
	case req.Rack != nil && strings.TrimSpace(*req.Rack) == "":
		return HeartbeatResult{}, errorf(kerr.InvalidRequest, "RackId can't be empty.")
	}
	wait, res, err := c.heartbeat(req)
	if err != nil {
		return res, err
	}
	if err := wait(ctx); err != nil {
		c.log.Warn("share group epoch write failed", "group", req.Group, "err", err)
		return HeartbeatResult{}, kerr.CoordinatorNotAvailable
	}
	return res, nil
}

func (c *Coordinator) heartbeat(req HeartbeatRequest) (func(context.Context) error, HeartbeatResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	noWait := func(context.Context) error { return nil }
	g := c.groups[req.Group]
	var m *member
	if g != nil {
		m = g.members[req.Member]
	}
	s := c.settingsLocked(req.Group)
	res := HeartbeatResult{IntervalMs: int32(s.heartbeat.Milliseconds())}
	switch {
	case req.Epoch == -1:
		if m == nil {
			return noWait, res, kerr.UnknownMemberID
		}
		if c.removeMemberLocked(g, req.Member) {
			c.wakeLocked()
		}
		res.Epoch = -1
		return noWait, res, nil
	case req.Epoch == 0:
		g = c.getGroupLocked(req.Group)
		if m == nil {
			m = &member{id: req.Member}
			g.members[req.Member] = m
			g.epoch++ // a new member changes the group
		}
	case m == nil:
		return noWait, res, kerr.UnknownMemberID
	case req.Epoch != m.epoch && req.Epoch != m.prevEpoch:
		return noWait, res, kerr.FencedMemberEpoch
	}
	m.clientID, m.host, m.last = req.ClientID, req.Host, c.cfg.Now()
	if req.Rack != nil {
		m.rack = req.Rack
	}
	if req.Topics != nil {
		m.topics = sortedClone(req.Topics)
	}
	// Topics created or grown since the last heartbeat change the
	// assignment too, so it is recomputed every time.
	if a := c.assign(m.topics); !sameAssignment(a, m.assignment) {
		m.assignment = a
		g.epoch++
	}
	before := m.epoch
	if m.epoch != g.epoch {
		m.prevEpoch, m.epoch = m.epoch, g.epoch
	}
	res.Epoch = m.epoch
	res.SendAssignment = req.Topics != nil || m.epoch != before
	res.Assignment = m.assignment
	wait := noWait
	if m.epoch != before {
		// The group epoch must never go backwards across a restart,
		// or a member could be answered with an epoch it already saw.
		wait = c.writeLocked(g.name, groupRec(g))
	}
	return wait, res, nil
}

// assign is every partition of each subscribed topic that exists.
func (c *Coordinator) assign(topics []string) []Assigned {
	var out []Assigned
	for _, name := range topics {
		ti, ok := c.cfg.Topics.ByName(name)
		if !ok || ti.Partitions <= 0 {
			continue
		}
		a := Assigned{Topic: ti.Name, TopicID: ti.ID, Partitions: make([]int32, ti.Partitions)}
		for i := range a.Partitions {
			a.Partitions[i] = int32(i)
		}
		out = append(out, a)
	}
	return out
}

func sameAssignment(a, b []Assigned) bool {
	return slices.EqualFunc(a, b, func(x, y Assigned) bool {
		return x.TopicID == y.TopicID && slices.Equal(x.Partitions, y.Partitions)
	})
}

// MemberInfo describes a member for ShareGroupDescribe.
type MemberInfo struct {
	ID, ClientID, Host string
	Rack               *string
	Epoch              int32
	Topics             []string
	Assignment         []Assigned
}

// GroupInfo describes a share group.
type GroupInfo struct {
	Group   string
	State   string // Empty or Stable
	Epoch   int32
	Members []MemberInfo
}

// Describe describes a share group; ok is false when there is none.
func (c *Coordinator) Describe(name string) (GroupInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[name]
	if g == nil {
		return GroupInfo{}, false
	}
	return c.infoLocked(g), true
}

func (c *Coordinator) infoLocked(g *group) GroupInfo {
	gi := GroupInfo{Group: g.name, State: "Empty", Epoch: g.epoch}
	if len(g.members) > 0 {
		gi.State = "Stable"
	}
	for _, m := range g.members {
		gi.Members = append(gi.Members, MemberInfo{ID: m.id, ClientID: m.clientID, Host: m.host, Rack: m.rack,
			Epoch: m.epoch, Topics: slices.Clone(m.topics), Assignment: m.assignment})
	}
	sort.Slice(gi.Members, func(i, j int) bool { return gi.Members[i].ID < gi.Members[j].ID })
	return gi
}

// List lists the share groups, by name.
func (c *Coordinator) List() []GroupInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]GroupInfo, 0, len(c.groups))
	for _, g := range c.groups {
		gi := c.infoLocked(g)
		gi.Members = nil
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// IsShareGroup reports whether name is a share group.
func (c *Coordinator) IsShareGroup(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[name] != nil
}

// emptyGroupLocked returns the share group called name if it has no
// members; else GROUP_ID_NOT_FOUND or NON_EMPTY_GROUP, as the deletions
// answer. c.mu must be held.
func (c *Coordinator) emptyGroupLocked(name string) (*group, error) {
	g := c.groups[name]
	if g == nil {
		return nil, kerr.GroupIDNotFound
	}
	if len(g.members) > 0 {
		return nil, kerr.NonEmptyGroup
	}
	return g, nil
}

// DeleteGroup deletes a share group with no members, its share-partition
// state and its configs (DeleteGroups): GROUP_ID_NOT_FOUND when there is
// none, NON_EMPTY_GROUP while it has members.
func (c *Coordinator) DeleteGroup(ctx context.Context, name string) error {
	c.mu.Lock()
	g, err := c.emptyGroupLocked(name)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	recs := make([]kv, 0, len(g.parts)+2)
	for tp := range g.parts {
		recs = append(recs, kv{key: partitionKey(name, tp)})
	}
	recs = append(recs, kv{key: groupKey(kindGroup, name)}, kv{key: groupKey(kindConfig, name)})
	delete(c.groups, name)
	delete(c.configs, name)
	for k := range c.sessions {
		if k.group == name {
			delete(c.sessions, k)
		}
	}
	wait := c.writeLocked(name, recs...)
	c.mu.Unlock()
	return wait(ctx)
}
