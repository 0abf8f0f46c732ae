package group

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// KIP-848 consumer groups (group protocol "consumer"): members heartbeat
// with ConsumerGroupHeartbeat and the coordinator assigns, reconciling
// each member toward its target one step at a time, as Kafka's
// GroupMetadataManager and CurrentAssignmentBuilder do. Every function
// here runs on the shard's loop goroutine.

const (
	leaveEpoch       = -1 // MemberEpoch of a member leaving for good
	staticLeaveEpoch = -2 // MemberEpoch of a static member leaving for a while
)

// tid is a topic ID.
type tid = [16]byte

// assignment maps topic IDs to sorted partitions.
type assignment map[tid][]int32

func (a assignment) sort() {
	for _, ps := range a {
		slices.Sort(ps)
	}
}

func (a assignment) clone() assignment {
	c := make(assignment, len(a))
	for id, ps := range a {
		c[id] = slices.Clone(ps)
	}
	return c
}

func (a assignment) has(id tid, p int32) bool { return slices.Contains(a[id], p) }

func (a assignment) add(id tid, p int32) {
	if !a.has(id, p) {
		a[id] = append(a[id], p)
	}
}

func (a assignment) equal(b assignment) bool {
	return maps.EqualFunc(a, b, func(x, y []int32) bool { return slices.Equal(x, y) })
}

func (a assignment) list() []TopicPartitions {
	out := make([]TopicPartitions, 0, len(a))
	for _, id := range sortedTopicIDs(a) {
		out = append(out, TopicPartitions{TopicID: id, Partitions: slices.Clone(a[id])})
	}
	return out
}

func sortedTopicIDs(a assignment) []tid {
	ids := make([]tid, 0, len(a))
	for id, ps := range a {
		if len(ps) > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(x, y tid) int { return bytes.Compare(x[:], y[:]) })
	return ids
}

func toAssignment(tps []TopicPartitions) assignment {
	a := make(assignment, len(tps))
	for _, t := range tps {
		for _, p := range t.Partitions {
			a.add(t.TopicID, p)
		}
	}
	a.sort()
	return a
}

// memberState is where a member is in its reconciliation.
type memberState int8

const (
	msStable     memberState = iota // at its target, or as close as the target allows
	msUnrevoked                     // told to revoke partitions, has not confirmed yet
	msUnreleased                    // waits for partitions other members still hold
)

func (s memberState) String() string {
	switch s {
	case msUnrevoked:
		return "unrevoked-partitions"
	case msUnreleased:
		return "unreleased-partitions"
	default:
		return "stable"
	}
}

// cmember is a member of a consumer group.
type cmember struct {
	id                 string
	instanceID         *string
	rackID             *string
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	epoch              int32 // staticLeaveEpoch while a static member is away
	prevEpoch          int32 // accepted too, with a subset of assigned: the answer bumping it may be lost
	state              memberState
	topics             []string // subscribed names, sorted
	regex              *string  // subscribed regex, nil when none
	re                 *regexp.Regexp
	assignor           string     // preferred ServerAssignor, "" when none
	assigned           assignment // what the member was last told it owns
	revoking           assignment // told to revoke, still held until confirmed
	// assignedAt is the member epoch at which each assigned partition was
	// given (KIP-1251): a commit with an older epoch may still commit it.
	assignedAt map[tid]map[int32]int32
	session    *loopTimer
	rebalance  *loopTimer // runs while msUnrevoked
	rebalEpoch int32      // the epoch rebalance watches
	seq        uint64     // order of first join, for stable iteration
}

// consumerGroup is the KIP-848 state of a group of type "consumer".
type consumerGroup struct {
	epoch       int32 // group epoch: bumped on membership, subscription and metadata changes
	targetEpoch int32 // group epoch the target assignment was computed at
	members     map[string]*cmember
	static      map[string]string     // instance ID -> member ID
	target      map[string]assignment // member ID -> target assignment
	// owners is which member holds each partition (assigned or pending
	// revocation): nobody else gets it until that member lets go.
	owners   map[tid]map[int32]string
	metaHash uint64 // subscribed topics' metadata the target was computed from
	seq      uint64

	extra   []kv     // records to write before the next group record
	writing int      // group records appended, not yet durable
	waiters []func() // answers waiting for those records
	// unsynced is set when writing the group record failed: memory is
	// ahead of the log, so the next answer rewrites it first.
	unsynced bool
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: make(map[string]*cmember),
		static:  make(map[string]string),
		target:  make(map[string]assignment),
		owners:  make(map[tid]map[int32]string),
	}
}

// state is the group state as Kafka names it for consumer groups.
func (cg *consumerGroup) state() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.epoch != cg.targetEpoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch == staticLeaveEpoch {
			continue
		}
		if m.state != msStable || m.epoch != cg.targetEpoch {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *consumerGroup) ordered() []*cmember {
	ms := make([]*cmember, 0, len(cg.members))
	for _, m := range cg.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	return ms
}

// assignor is the ServerAssignor most members prefer (ties: by name),
// uniform when none says, as Kafka picks it.
func (cg *consumerGroup) assignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := ""
	for _, a := range []string{assignorRange, assignorUniform} {
		if votes[a] > votes[best] {
			best = a
		}
	}
	if best == "" {
		return assignorUniform
	}
	return best
}

func (cg *consumerGroup) owner(id tid, p int32) string { return cg.owners[id][p] }

// release forgets m's hold on what it has assigned and pending revocation.
func (cg *consumerGroup) release(m *cmember) {
	for _, a := range []assignment{m.assigned, m.revoking} {
		for id, ps := range a {
			for _, p := range ps {
				if cg.owners[id][p] == m.id {
					delete(cg.owners[id], p)
				}
			}
			if len(cg.owners[id]) == 0 {
				delete(cg.owners, id)
			}
		}
	}
}

// claim records m's hold on what it has assigned and pending revocation.
// Reconciliation never assigns a partition another member holds, so a
// clash is a bug: it is logged and the first holder keeps it.
func (cg *consumerGroup) claim(s *shard, group string, m *cmember) {
	for _, a := range []assignment{m.assigned, m.revoking} {
		for id, ps := range a {
			for _, p := range ps {
				o := cg.owners[id]
				if o == nil {
					o = make(map[int32]string)
					cg.owners[id] = o
				}
				if cur, ok := o[p]; ok && cur != m.id {
					s.c.log.Error("consumer group partition claimed twice", "group", group, "partition", p, "holder", cur, "member", m.id)
					continue
				}
				o[p] = m.id
			}
		}
	}
}

// topicMeta is the broker's topics at one moment.
type topicMeta struct {
	byName map[string]TopicInfo
	list   []TopicInfo // sorted by name
}

func (c *Coordinator) topicMeta() topicMeta {
	var list []TopicInfo
	if c.cfg.Topics != nil {
		list = c.cfg.Topics()
	}
	slices.SortFunc(list, func(a, b TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	tm := topicMeta{byName: make(map[string]TopicInfo, len(list)), list: list}
	for _, t := range list {
		tm.byName[t.Name] = t
	}
	return tm
}

// compileSubscriptionRegex compiles a SubscribedTopicRegex. Kafka matches
// it against whole topic names (RE2J's matches()); Go's regexp is RE2 too.
func compileSubscriptionRegex(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

// subscribed resolves m's subscription to the names of existing topics.
// Internal topics match a regex too, as in Kafka.
func (m *cmember) subscribed(tm topicMeta) map[string]bool {
	subs := make(map[string]bool)
	for _, t := range m.topics {
		if _, ok := tm.byName[t]; ok {
			subs[t] = true
		}
	}
	if m.re != nil {
		for _, t := range tm.list {
			if m.re.MatchString(t.Name) {
				subs[t.Name] = true
			}
		}
	}
	return subs
}

// subscribesTo reports whether m's subscription names topic, whether or
// not it exists.
func (m *cmember) subscribesTo(topic string) bool {
	return slices.Contains(m.topics, topic) || (m.re != nil && m.re.MatchString(topic))
}

// metadataHash fingerprints the subscribed topics (name, ID, partition
// count): when it changes (topics created, deleted or grown), the target
// assignment must be recomputed, as Kafka does with its subscription
// metadata.
func (cg *consumerGroup) metadataHash(tm topicMeta) (uint64, map[string]map[string]bool) {
	subs := make(map[string]map[string]bool, len(cg.members))
	all := map[string]bool{}
	for _, m := range cg.members {
		s := m.subscribed(tm)
		subs[m.id] = s
		for t := range s {
			all[t] = true
		}
	}
	names := make([]string, 0, len(all))
	for t := range all {
		names = append(names, t)
	}
	slices.Sort(names)
	h := fnv.New64a()
	for _, n := range names {
		t := tm.byName[n]
		fmt.Fprintf(h, "%s\x00%x\x00%d\x00", n, t.ID, t.Partitions)
	}
	return h.Sum64(), subs
}

// recompute bumps the group epoch and computes a new target assignment.
func (s *shard) recompute(g *group, tm topicMeta, hash uint64, subs map[string]map[string]bool) {
	cg := g.cg
	cg.epoch++
	cg.metaHash = hash
	members := make([]assignMember, 0, len(cg.members))
	for _, m := range cg.members {
		members = append(members, assignMember{id: m.id, instanceID: m.instanceID, subs: subs[m.id], previous: cg.target[m.id]})
	}
	slices.SortFunc(members, func(a, b assignMember) int { return cmp.Compare(a.id, b.id) })
	tps := assignablePartitions(members, tm)
	var target map[string]assignment
	if cg.assignor() == assignorRange {
		target = assignRange(members, tps)
	} else {
		target = assignUniform(members, tps)
	}
	for _, a := range target {
		a.sort()
	}
	cg.target = target
	cg.targetEpoch = cg.epoch
	s.c.log.Debug("consumer group target assignment", "group", g.name, "epoch", cg.epoch, "assignor", cg.assignor(), "members", len(members), "partitions", len(tps))
}

// refresh recomputes the target if force is set or the subscribed
// topics' metadata changed since the last computation.
func (s *shard) refresh(g *group, force bool) bool {
	tm := s.c.topicMeta()
	hash, subs := g.cg.metadataHash(tm)
	if !force && hash == g.cg.metaHash {
		return false
	}
	s.recompute(g, tm, hash, subs)
	return true
}

// ConsumerHeartbeat is ConsumerGroupHeartbeat: join (epoch 0), heartbeat,
// leave (-1) or leave for a while (-2, static members).
func (c *Coordinator) ConsumerHeartbeat(ctx context.Context, req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	hb := int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	if msg, err := validateConsumerHeartbeat(req); err != nil {
		return ConsumerHeartbeatResult{Err: err, ErrMessage: msg, HeartbeatIntervalMs: hb}
	}
	s, err := c.enter(req.Group)
	if err != nil {
		return ConsumerHeartbeatResult{Err: err, HeartbeatIntervalMs: hb}
	}
	return call(ctx, s, ConsumerHeartbeatResult{Err: kerr.NotCoordinator, HeartbeatIntervalMs: hb}, func(reply func(ConsumerHeartbeatResult)) {
		s.consumerHeartbeat(req, reply)
	})
}

// validateConsumerHeartbeat applies Kafka's request checks
// (throwIfConsumerGroupHeartbeatRequestIsInvalid).
func validateConsumerHeartbeat(req ConsumerHeartbeatRequest) (msg string, err error) {
	invalid := func(msg string) (string, error) { return msg, kerr.InvalidRequest }
	switch {
	case req.MemberID == "" && (req.MemberIDRequired || req.MemberEpoch > 0 || req.MemberEpoch == leaveEpoch):
		return invalid("MemberId can't be empty.")
	case req.Group == "":
		return invalid("GroupId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return invalid("RackId can't be empty.")
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMs == -1:
		return invalid("RebalanceTimeoutMs must be provided in first request.")
	case req.MemberEpoch == 0 && (req.Owned == nil || len(req.Owned) > 0):
		return invalid("TopicPartitions must be empty when (re-)joining.")
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return invalid("InstanceId can't be null.")
	case req.MemberEpoch < staticLeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
		return "ServerAssignor " + *req.ServerAssignor + " is not supported. Supported assignors: range, uniform.", kerr.UnsupportedAssignor
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileSubscriptionRegex(*req.SubscribedTopicRegex); err != nil {
			return "SubscribedTopicRegex " + *req.SubscribedTopicRegex + " is not a valid regular expression: " + err.Error(), kerr.InvalidRegularExpression
		}
	}
	return "", nil
}

func (s *shard) hbInterval() int32 { return int32(s.c.cfg.ConsumerHeartbeatInterval.Milliseconds()) }

func (s *shard) consumerHeartbeat(req ConsumerHeartbeatRequest, reply func(ConsumerHeartbeatResult)) {
	fail := func(err error, msg string) {
		reply(ConsumerHeartbeatResult{Err: err, ErrMessage: msg, HeartbeatIntervalMs: s.hbInterval()})
	}
	g := s.groups[req.Group]
	if g == nil || g.cg == nil {
		if g != nil && !g.classicEmpty() {
			fail(kerr.GroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
			return
		}
		if req.MemberEpoch != 0 {
			fail(kerr.UnknownMemberID, "Group "+req.Group+" not found.")
			return
		}
		if g == nil {
			g = newGroup(req.Group)
			s.groups[req.Group] = g
		} else {
			// An empty classic group becomes a consumer group and
			// keeps its offsets, as in Kafka; its classic metadata goes.
			s.c.log.Info("empty classic group converted to a consumer group", "group", g.name)
			g.cg = newConsumerGroup()
			g.cg.extra = append(g.cg.extra, groupTombstone(g.name))
		}
		if g.cg == nil {
			g.cg = newConsumerGroup()
		}
		g.protocolType, g.protocol, g.leader, g.subscribed = consumerProtocolType, "", "", nil
	}
	switch req.MemberEpoch {
	case 0:
		s.consumerJoin(g, req, reply, fail)
	case leaveEpoch, staticLeaveEpoch:
		s.consumerLeave(g, req, reply, fail)
	default:
		m := g.cg.members[req.MemberID]
		if m == nil {
			if req.InstanceID != nil {
				if owner, ok := g.cg.static[*req.InstanceID]; ok && owner != req.MemberID {
					fail(kerr.FencedInstanceID, "")
					return
				}
			}
			fail(kerr.UnknownMemberID, "Member "+req.MemberID+" is not a member of group "+g.name+".")
			return
		}
		if req.MemberEpoch != m.epoch {
			// The previous epoch is accepted with a subset of the
			// assignment: the answer that bumped it may be lost.
			if req.MemberEpoch > m.epoch || req.MemberEpoch != m.prevEpoch || req.Owned == nil || !isSubset(req.Owned, m.assigned) {
				fail(kerr.FencedMemberEpoch, fmt.Sprintf("The member epoch %d does not match the expected epoch %d.", req.MemberEpoch, m.epoch))
				return
			}
		}
		s.consumerUpdate(g, m, req, false, false, reply)
	}
}

func isSubset(owned []TopicPartitions, a assignment) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !a.has(t.TopicID, p) {
				return false
			}
		}
	}
	return true
}

// classicEmpty reports whether g is a classic group without members,
// which a consumer group may replace.
func (g *group) classicEmpty() bool {
	return g.cg == nil && g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0
}

func (s *shard) consumerJoin(g *group, req ConsumerHeartbeatRequest, reply func(ConsumerHeartbeatResult), fail func(error, string)) {
	cg := g.cg
	id := req.MemberID
	if id == "" {
		id = s.c.newMemberID(req.ClientID, req.InstanceID) // v0: the coordinator names members
	}
	m := cg.members[id]
	bump := false
	if req.InstanceID != nil {
		if oldID, ok := cg.static[*req.InstanceID]; ok && oldID != id {
			old := cg.members[oldID]
			if old != nil && old.epoch != staticLeaveEpoch {
				fail(kerr.UnreleasedInstanceID, fmt.Sprintf("Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", id, *req.InstanceID, oldID))
				return
			}
			if old != nil {
				// The static member is back under a new member
				// ID: it takes its predecessor's place and
				// assignment, with no rebalance.
				if m != nil {
					s.dropMember(g, m)
					bump = true
				}
				s.renameMember(g, old, id)
				m = old
				s.c.log.Info("static member rejoined consumer group", "group", g.name, "instance", *req.InstanceID, "old_member", oldID, "member", id)
			}
		}
	}
	if m == nil {
		cg.seq++
		m = &cmember{id: id, assigned: assignment{}, revoking: assignment{}, seq: cg.seq, rebalanceTimeoutMs: req.RebalanceTimeoutMs}
		cg.members[id] = m
		bump = true
		s.c.log.Info("member joined consumer group", "group", g.name, "member", id, "instance", derefOr(req.InstanceID, ""))
	}
	if req.InstanceID != nil {
		m.instanceID = req.InstanceID
		cg.static[*req.InstanceID] = id
	}
	s.consumerUpdate(g, m, req, true, bump, reply)
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

// renameMember gives m (a static member back under a new ID) the new ID,
// with its target and the partitions it holds.
func (s *shard) renameMember(g *group, m *cmember, id string) {
	cg := g.cg
	cg.release(m)
	delete(cg.members, m.id)
	if t, ok := cg.target[m.id]; ok {
		delete(cg.target, m.id)
		cg.target[id] = t
	}
	m.id = id
	cg.members[id] = m
	cg.claim(s, g.name, m)
}

// dropMember takes m out of the group: its timers stop and whatever it
// holds is free. The caller recomputes the target.
func (s *shard) dropMember(g *group, m *cmember) {
	cg := g.cg
	m.session.stop()
	m.rebalance.stop()
	cg.release(m)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
}

// consumerUpdate applies a join or heartbeat of m: subscription changes,
// a new target if needed, one reconciliation step, then the answer once
// the group's record is durable.
func (s *shard) consumerUpdate(g *group, m *cmember, req ConsumerHeartbeatRequest, join, bump bool, reply func(ConsumerHeartbeatResult)) {
	full := join || (req.RebalanceTimeoutMs != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Owned != nil)
	dirty := bump
	if req.ClientID != m.clientID || req.ClientHost != m.clientHost {
		m.clientID, m.clientHost = req.ClientID, req.ClientHost
		dirty = true
	}
	if req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID) {
		m.rackID = req.RackID
		dirty = true
	}
	if req.RebalanceTimeoutMs > 0 && req.RebalanceTimeoutMs != m.rebalanceTimeoutMs {
		m.rebalanceTimeoutMs = req.RebalanceTimeoutMs
		dirty = true
	}
	subChanged := false
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics = names
			subChanged = true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != derefOr(m.regex, "") {
		m.regex, m.re = nil, nil
		if *req.SubscribedTopicRegex != "" {
			m.regex = req.SubscribedTopicRegex
			m.re, _ = compileSubscriptionRegex(*req.SubscribedTopicRegex) // validated before
		}
		subChanged = true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = *req.ServerAssignor
		subChanged = true
	}
	if subChanged {
		bump, dirty = true, true
	}
	if s.refresh(g, bump) {
		dirty = true
	}
	oldEpoch, oldState, oldAssigned, oldRevoking := m.epoch, m.state, m.assigned, m.revoking
	s.reconcile(g, m, req.Owned, subChanged)
	changed := !m.assigned.equal(oldAssigned)
	if changed || m.epoch != oldEpoch || m.state != oldState || !m.revoking.equal(oldRevoking) {
		dirty = true
	}
	s.scheduleSession(g, m)
	s.scheduleRebalance(g, m)
	res := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatIntervalMs: s.hbInterval()}
	if join || full || changed {
		res.HasAssignment, res.Assignment = true, m.assigned.list()
	}
	s.consumerWrite(g, dirty, func(err error) {
		if err != nil {
			reply(ConsumerHeartbeatResult{Err: writeErr(err), HeartbeatIntervalMs: s.hbInterval()})
			return
		}
		reply(res)
	})
}

// reconcile moves m one step toward its target, as Kafka's
// CurrentAssignmentBuilder does: partitions to revoke are taken away
// first and the member keeps its epoch until it confirms (by no longer
// reporting them); only then does it move to the target epoch and get
// new partitions, and only those no other member still holds.
func (s *shard) reconcile(g *group, m *cmember, owned []TopicPartitions, subChanged bool) {
	cg := g.cg
	var ownedA assignment
	if owned != nil {
		ownedA = toAssignment(owned)
	}
	switch m.state {
	case msStable:
		if m.epoch != cg.targetEpoch {
			s.nextAssignment(g, m, ownedA)
		} else if subChanged {
			s.dropUnsubscribed(g, m, ownedA)
		}
	case msUnrevoked:
		if ownsAny(m.revoking, ownedA) {
			if subChanged {
				s.dropUnsubscribed(g, m, ownedA)
			}
			return
		}
		s.nextAssignment(g, m, ownedA)
	case msUnreleased:
		s.nextAssignment(g, m, ownedA)
	}
}

// ownsAny reports whether the member may still own any of pending: a
// keepalive (owned nil) says nothing, so it may.
func ownsAny(pending, owned assignment) bool {
	if owned == nil {
		return len(pending) > 0
	}
	for id, ps := range pending {
		for _, p := range ps {
			if owned.has(id, p) {
				return true
			}
		}
	}
	return false
}

func (s *shard) nextAssignment(g *group, m *cmember, owned assignment) {
	cg := g.cg
	target := cg.target[m.id]
	keep, revoke, add := assignment{}, assignment{}, assignment{}
	unreleased := false
	ids := map[tid]bool{}
	for id := range target {
		ids[id] = true
	}
	for id := range m.assigned {
		ids[id] = true
	}
	for id := range ids {
		for _, p := range m.assigned[id] {
			if slices.Contains(target[id], p) {
				keep.add(id, p)
			} else {
				revoke.add(id, p)
			}
		}
		for _, p := range target[id] {
			if m.assigned.has(id, p) {
				continue
			}
			if o := cg.owner(id, p); o != "" && o != m.id {
				unreleased = true
				continue
			}
			add.add(id, p)
		}
	}
	// Partitions still pending revocation from an earlier step stay
	// pending too.
	for id, ps := range m.revoking {
		for _, p := range ps {
			if !keep.has(id, p) && !add.has(id, p) {
				revoke.add(id, p)
			}
		}
	}
	cg.release(m)
	defer cg.claim(s, g.name, m)
	if len(revoke) > 0 && ownsAny(revoke, owned) {
		m.state = msUnrevoked
		m.assigned, m.revoking = keep, revoke
		m.assigned.sort()
		m.revoking.sort()
		return
	}
	for id, ps := range add {
		for _, p := range ps {
			keep.add(id, p)
		}
	}
	keep.sort()
	m.state = msStable
	if unreleased {
		m.state = msUnreleased
	}
	if m.epoch != cg.targetEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.targetEpoch
	}
	m.assigned, m.revoking = keep, assignment{}
	m.noteAssigned()
}

// noteAssigned records when each assigned partition was first given.
func (m *cmember) noteAssigned() {
	at := make(map[tid]map[int32]int32, len(m.assigned))
	for id, ps := range m.assigned {
		at[id] = make(map[int32]int32, len(ps))
		for _, p := range ps {
			if e, ok := m.assignedAt[id][p]; ok {
				at[id][p] = e
			} else {
				at[id][p] = m.epoch
			}
		}
	}
	m.assignedAt = at
}

// dropUnsubscribed takes from m the partitions of topics it no longer
// subscribes to, before any new target reaches it.
func (s *shard) dropUnsubscribed(g *group, m *cmember, owned assignment) {
	cg := g.cg
	tm := s.c.topicMeta()
	subs := m.subscribed(tm)
	byID := make(map[tid]bool, len(subs))
	for t := range subs {
		byID[tm.byName[t].ID] = true
	}
	keep, gone := assignment{}, m.revoking.clone()
	dropped := false
	for id, ps := range m.assigned {
		for _, p := range ps {
			if byID[id] {
				keep.add(id, p)
			} else {
				gone.add(id, p)
				dropped = true
			}
		}
	}
	if !dropped {
		return
	}
	cg.release(m)
	keep.sort()
	gone.sort()
	m.assigned = keep
	if ownsAny(gone, owned) {
		m.state, m.revoking = msUnrevoked, gone
	} else {
		m.revoking = assignment{}
	}
	cg.claim(s, g.name, m)
}

func (s *shard) scheduleSession(g *group, m *cmember) {
	m.session.stop()
	m.session = s.after(s.c.cfg.ConsumerSessionTimeout, func() {
		if !s.live(g) || g.cg == nil || g.cg.members[m.id] != m {
			return
		}
		s.c.log.Info("consumer group member session expired", "group", g.name, "member", m.id, "epoch", m.epoch)
		s.removeConsumerMember(g, m)
	})
}

// scheduleRebalance runs the rebalance timeout while m must revoke: a
// member that does not let go in time is fenced, so the others are not
// kept waiting for its partitions.
func (s *shard) scheduleRebalance(g *group, m *cmember) {
	if m.state != msUnrevoked {
		m.rebalance.stop()
		return
	}
	if m.rebalance != nil && !m.rebalance.done && m.rebalEpoch == m.epoch {
		return
	}
	m.rebalance.stop()
	epoch := m.epoch
	m.rebalEpoch = epoch
	timeout := ms(m.rebalanceTimeoutMs)
	if timeout <= 0 {
		timeout = s.c.cfg.ConsumerSessionTimeout
	}
	m.rebalance = s.after(timeout, func() {
		if !s.live(g) || g.cg == nil || g.cg.members[m.id] != m || m.state != msUnrevoked || m.epoch != epoch {
			return
		}
		s.c.log.Info("consumer group member did not revoke in time, fenced", "group", g.name, "member", m.id, "epoch", epoch)
		s.removeConsumerMember(g, m)
	})
}

// removeConsumerMember fences m (session or rebalance timeout) and
// recomputes the target for those left.
func (s *shard) removeConsumerMember(g *group, m *cmember) {
	s.dropMember(g, m)
	s.refresh(g, true)
	s.consumerWrite(g, true, func(err error) {
		if err != nil {
			s.c.log.Warn("writing consumer group after removing a member failed", "group", g.name, "err", err)
		}
	})
}

func (s *shard) consumerLeave(g *group, req ConsumerHeartbeatRequest, reply func(ConsumerHeartbeatResult), fail func(error, string)) {
	cg := g.cg
	m := cg.members[req.MemberID]
	if m == nil {
		fail(kerr.UnknownMemberID, "Member "+req.MemberID+" is not a member of group "+g.name+".")
		return
	}
	res := ConsumerHeartbeatResult{MemberID: m.id, MemberEpoch: req.MemberEpoch, HeartbeatIntervalMs: s.hbInterval()}
	if req.MemberEpoch == staticLeaveEpoch && m.instanceID != nil {
		// A static member away for a while keeps its place and
		// assignment until its session expires; partitions it was
		// revoking are free (it no longer consumes).
		cg.release(m)
		m.revoking = assignment{}
		m.state = msStable
		m.epoch = staticLeaveEpoch
		cg.claim(s, g.name, m)
		m.rebalance.stop()
		s.scheduleSession(g, m)
		s.c.log.Info("static member left consumer group for now", "group", g.name, "member", m.id, "instance", *m.instanceID)
	} else {
		s.dropMember(g, m)
		s.refresh(g, true)
		res.MemberEpoch = leaveEpoch
		s.c.log.Info("member left consumer group", "group", g.name, "member", m.id)
	}
	s.consumerWrite(g, true, func(err error) {
		if err != nil {
			reply(ConsumerHeartbeatResult{Err: writeErr(err), HeartbeatIntervalMs: s.hbInterval()})
			return
		}
		reply(res)
	})
}

// consumerWrite appends the group's record (when dirty) and calls done
// once it, and every record of the group appended before, is durable:
// no answer reveals an epoch a reload would not find.
func (s *shard) consumerWrite(g *group, dirty bool, done func(error)) {
	cg := g.cg
	if !dirty && !cg.unsynced {
		if cg.writing == 0 {
			done(nil)
		} else {
			cg.waiters = append(cg.waiters, func() { done(nil) })
		}
		return
	}
	recs := append(cg.extra, consumerRecord(g))
	cg.extra, cg.unsynced = nil, false
	cg.writing++
	s.write(recs, func(err error) {
		cg.writing--
		if err != nil {
			cg.unsynced = true
			s.c.log.Warn("writing consumer group failed", "group", g.name, "err", err)
		}
		done(err)
		if cg.writing == 0 {
			ws := cg.waiters
			cg.waiters = nil
			for _, w := range ws {
				w()
			}
		}
	})
}

// validateConsumerCommit applies Kafka's rules for commits to a consumer
// group: outside group management (epoch < 0) only while it has no
// members; else the member must exist, commit with OffsetCommit v9+ (or
// transactionally) and with its current epoch, or, as KIP-1251 allows, an
// older one no older than when it got the partition. Per-partition
// errors go in errs; the result is a group-wide error.
func (s *shard) validateConsumerCommit(g *group, req CommitRequest, txn bool, errs []error) error {
	cg := g.cg
	if req.Generation < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if !txn && req.Version < 9 {
		return kerr.UnsupportedVersion
	}
	if req.Generation == m.epoch {
		return nil
	}
	if req.Generation > m.epoch || txn {
		return kerr.StaleMemberEpoch
	}
	tm := s.c.topicMeta()
	for i, o := range req.Offsets {
		t, ok := tm.byName[o.Topic]
		at, held := m.assignedAt[t.ID][o.Partition]
		if !ok || !held || req.Generation < at {
			errs[i] = kerr.StaleMemberEpoch
		}
	}
	return nil
}

// consumerSubscribedTo reports whether a member of the consumer group
// subscribes to topic.
func (cg *consumerGroup) subscribedTo(topic string) bool {
	for _, m := range cg.members {
		if m.subscribesTo(topic) {
			return true
		}
	}
	return false
}

// ConsumerDescribe is ConsumerGroupDescribe.
func (c *Coordinator) ConsumerDescribe(ctx context.Context, groups []string) []ConsumerDescribed {
	out := make([]ConsumerDescribed, len(groups))
	for i, name := range groups {
		out[i] = ConsumerDescribed{Group: name}
		s, err := c.enter(name)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i] = call(ctx, s, ConsumerDescribed{Group: name, Err: kerr.NotCoordinator}, func(reply func(ConsumerDescribed)) {
			reply(s.consumerDescribe(name))
		})
	}
	return out
}

func (s *shard) consumerDescribe(name string) ConsumerDescribed {
	d := ConsumerDescribed{Group: name}
	g := s.groups[name]
	switch {
	case g == nil:
		d.Err, d.ErrMessage = kerr.GroupIDNotFound, "Group "+name+" not found."
		return d
	case g.cg == nil:
		d.Err, d.ErrMessage = kerr.GroupIDNotFound, "Group "+name+" is not a consumer group."
		return d
	}
	cg := g.cg
	d.State, d.Epoch, d.AssignmentEpoch, d.Assignor = cg.state(), cg.epoch, cg.targetEpoch, cg.assignor()
	for _, m := range cg.ordered() {
		d.Members = append(d.Members, ConsumerDescribedMember{
			MemberID:             m.id,
			InstanceID:           m.instanceID,
			RackID:               m.rackID,
			MemberEpoch:          m.epoch,
			ClientID:             m.clientID,
			ClientHost:           m.clientHost,
			SubscribedTopicNames: slices.Clone(m.topics),
			SubscribedTopicRegex: m.regex,
			Assignment:           m.assigned.list(),
			TargetAssignment:     assignment(cg.target[m.id]).list(),
		})
	}
	return d
}

// toClassic turns an empty consumer group back into a classic one for a
// JoinGroup, as Kafka does; its offsets stay.
func (s *shard) toClassic(g *group) {
	s.c.log.Info("empty consumer group converted to a classic group", "group", g.name)
	g.cg = nil
	g.protocolType = ""
	s.write([]kv{consumerTombstone(g.name)}, func(err error) {
		if err != nil {
			s.c.log.Warn("deleting consumer group metadata failed", "group", g.name, "err", err)
		}
	})
}

// stopConsumer stops the timers of a consumer group's members.
func (cg *consumerGroup) stopTimers() {
	for _, m := range cg.members {
		m.session.stop()
		m.rebalance.stop()
	}
}

// restoreConsumer rebuilds a consumer group from its record. Members
// keep their epochs and assignments and must heartbeat within a session
// timeout, as after a coordinator move in Kafka.
func (s *shard) restoreConsumer(g *group, snap *consumerSnapshot) {
	cg := newConsumerGroup()
	g.cg = cg
	g.protocolType = consumerProtocolType
	cg.epoch, cg.targetEpoch, cg.metaHash = snap.epoch, snap.targetEpoch, snap.metaHash
	for _, m := range snap.members {
		cg.seq++
		m.seq = cg.seq
		if m.regex != nil {
			re, err := compileSubscriptionRegex(*m.regex)
			if err != nil {
				s.c.log.Warn("consumer group member regex no longer compiles", "group", g.name, "member", m.id, "err", err)
			}
			m.re = re
		}
		m.noteAssigned()
		cg.members[m.id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = m.id
		}
		if t := snap.targets[m.id]; t != nil {
			cg.target[m.id] = t
		}
		cg.claim(s, g.name, m)
	}
	for _, m := range cg.members {
		s.scheduleSession(g, m)
		s.scheduleRebalance(g, m)
	}
}

// consumerSessionDefault and consumerHeartbeatDefault are Kafka's
// group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms.
const (
	consumerSessionDefault   = 45 * time.Second
	consumerHeartbeatDefault = 5 * time.Second
)
