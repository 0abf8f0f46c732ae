package group

import (
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, named as Kafka names it.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// consumerProtocolType is the protocol type of Kafka consumers, whose
// subscriptions the coordinator can read.
const consumerProtocolType = "consumer"

// offset is a committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
}

// member is one member of a classic group.
type member struct {
	id                 string
	instanceID         *string
	clientID           string
	clientHost         string
	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	protocolType       string
	protocols          []Protocol // in the member's order of preference
	assignment         []byte

	// joinReply is set while the member waits for a JoinGroup answer,
	// syncReply while it waits for a SyncGroup answer.
	joinReply func(JoinResult)
	syncReply func(SyncResult)
	// isNew is set from a member's first join until that join completes.
	isNew     bool
	heartbeat *loopTimer
	seq       uint64 // order of first join, for stable iteration
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols equal the member's, in order, with the
// same metadata: a rejoin that changes nothing.
func (m *member) matches(protocols []Protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b Protocol) bool {
		return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
	})
}

// group is a classic group and its committed offsets. It is owned by its
// shard's loop goroutine.
type group struct {
	name           string
	state          groupState
	prevState      groupState
	protocolType   string // "" until a member joins (and for offset-only groups)
	protocol       string // chosen protocol, "" when none
	generation     int32
	leader         string
	stateMs        int64 // CurrentStateTimestamp: when the generation changed, -1 unknown
	members        map[string]*member
	static         map[string]string     // instance ID -> member ID
	pending        map[string]*loopTimer // member IDs handed out with MEMBER_ID_REQUIRED
	pendingSync    map[string]bool       // members yet to sync in this generation
	awaitingJoin   int
	newMemberAdded bool // a member joined during the initial delay
	joinTimer      *loopTimer
	syncTimer      *loopTimer
	subscribed     map[string]bool // consumer subscriptions, nil when unknown
	seq            uint64

	offsets        map[TopicPartition]offset
	pendingCommits map[TopicPartition]int // appended, not yet durable

	// cg is set while the group is a KIP-848 consumer group (type
	// "consumer"); the classic fields above then stay Empty.
	cg *consumerGroup
}

func newGroup(name string) *group {
	return &group{
		name:           name,
		stateMs:        -1,
		members:        make(map[string]*member),
		static:         make(map[string]string),
		pending:        make(map[string]*loopTimer),
		pendingSync:    make(map[string]bool),
		offsets:        make(map[TopicPartition]offset),
		pendingCommits: make(map[TopicPartition]int),
	}
}

func (g *group) transition(s groupState) {
	g.prevState, g.state = g.state, s
}

func (g *group) orderedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	return ms
}

// add puts a new member in the group, waiting for its join answer.
func (g *group) add(m *member, reply func(JoinResult)) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.seq++
	m.seq = g.seq
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	delete(g.pending, m.id)
	if g.leader == "" {
		g.leader = m.id
	}
	g.setJoinReply(m, reply)
}

// remove takes a member out of the group, electing another leader if it
// led. Its timers and waiters are the caller's business.
func (g *group) remove(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	if m.joinReply != nil {
		g.awaitingJoin--
		m.joinReply = nil
	}
	delete(g.members, id)
	if m.instanceID != nil && g.static[*m.instanceID] == id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, id)
	if g.leader == id {
		g.leader = ""
		if ms := g.orderedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// setJoinReply records that m waits for a join answer (nil: it does not).
// A join answer it was already waiting for is superseded: the client gave
// up on it, and it is answered so nothing waits forever.
func (g *group) setJoinReply(m *member, reply func(JoinResult)) {
	if m.joinReply != nil {
		old := m.joinReply
		m.joinReply = nil
		g.awaitingJoin--
		old(JoinResult{Err: kerr.RebalanceInProgress, MemberID: m.id, Generation: -1})
	}
	if reply != nil {
		m.joinReply = reply
		g.awaitingJoin++
	}
}

// answerJoin completes m's pending JoinGroup, if any.
func (g *group) answerJoin(m *member, r JoinResult) bool {
	if m.joinReply == nil {
		return false
	}
	reply := m.joinReply
	m.joinReply = nil
	g.awaitingJoin--
	reply(r)
	return true
}

// answerSync completes m's pending SyncGroup, if any.
func (g *group) answerSync(m *member, r SyncResult) bool {
	if m.syncReply == nil {
		return false
	}
	reply := m.syncReply
	m.syncReply = nil
	reply(r)
	return true
}

// allJoined reports whether every member has rejoined and no member ID
// handed out with MEMBER_ID_REQUIRED is still expected.
func (g *group) allJoined() bool {
	return len(g.members) == g.awaitingJoin && len(g.pending) == 0
}

// rebalanceTimeoutMs is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeoutMs() int32 {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeoutMs)
	}
	return t
}

// supportsProtocols reports whether a member of protocolType supporting
// protocols may join: any type and protocol for an empty group, else the
// group's type and a protocol every member supports.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.allSupport(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(protocol string) bool {
	for _, m := range g.members {
		if !slices.ContainsFunc(m.protocols, func(p Protocol) bool { return p.Name == protocol }) {
			return false
		}
	}
	return true
}

// selectProtocol chooses the protocol for the next generation as Kafka
// does: among the protocols all members support, each member votes for its
// most preferred one and the most votes win (ties go to the candidate the
// longest-standing member prefers most).
func (g *group) selectProtocol() string {
	ms := g.orderedMembers()
	if len(ms) == 0 {
		return ""
	}
	votes := make(map[string]int)
	for _, m := range ms {
		for _, p := range m.protocols {
			if g.allSupport(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for _, p := range ms[0].protocols {
		if v := votes[p.Name]; v > bestVotes {
			best, bestVotes = p.Name, v
		}
	}
	return best
}

// validateMember checks a request's member and instance IDs: a static
// instance owned by another member ID is fenced (KIP-345).
func (g *group) validateMember(memberID string, instanceID *string) error {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if cur != memberID {
			return kerr.FencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	return nil
}

// maybeElectJoinedLeader makes a member that rejoined the leader if the
// current one did not; false if no member rejoined.
func (g *group) maybeElectJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.joinReply != nil {
		return true
	}
	for _, m := range g.orderedMembers() {
		if m.joinReply != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// initNextGeneration starts a generation: CompletingRebalance with a chosen
// protocol, or Empty when no member is left.
func (g *group) initNextGeneration(nowMs int64) {
	g.generation++
	if len(g.members) > 0 {
		g.protocol = g.selectProtocol()
		g.transition(stateCompletingRebalance)
	} else {
		g.protocol = ""
		g.transition(stateEmpty)
	}
	g.subscribed = g.computeSubscribed()
	g.stateMs = nowMs
	clear(g.pendingSync)
}

// computeSubscribed reads the topics consumer members subscribe to from
// their metadata for the chosen protocol; nil when unknown.
func (g *group) computeSubscribed() map[string]bool {
	if g.protocolType != consumerProtocolType {
		return nil
	}
	topics := make(map[string]bool)
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics
}

// joinMembers is the member list the leader gets to assign.
func (g *group) joinMembers() []JoinMember {
	var out []JoinMember
	for _, m := range g.orderedMembers() {
		out = append(out, JoinMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
	}
	return out
}

// joinResult is a successful join answer for the current generation.
func (g *group) joinResult(memberID string) JoinResult {
	return JoinResult{
		MemberID:     memberID,
		Generation:   g.generation,
		ProtocolType: ptr(g.protocolType),
		Protocol:     ptr(g.protocol),
		Leader:       g.leader,
	}
}

// validateCommit applies Kafka's rules for who may commit offsets.
func (g *group) validateCommit(memberID string, instanceID *string, generation int32) error {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if generation < 0 && g.state == stateEmpty {
		return nil // outside group management, or an admin
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if err := g.validateMember(memberID, instanceID); err != nil {
			return err
		}
		if generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if g.state != stateEmpty {
		return kerr.UnknownMemberID
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// MatchesFold is ListGroups' filter test: an empty filter matches
// everything, as in Kafka; otherwise s must equal one of its entries,
// ignoring case. The API layer uses it for the share groups it lists too.
func MatchesFold(filter []string, s string) bool {
	if len(filter) == 0 {
		return true
	}
	return slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, s) })
}

func ptr[T any](v T) *T { return &v }
