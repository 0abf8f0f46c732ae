package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The classic rebalance protocol, as Kafka's GroupCoordinator runs it.
// Every function here runs on the shard's loop goroutine.

func joinErr(memberID string, err error) JoinResult {
	return JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

func (s *shard) join(req JoinRequest, reply func(JoinResult)) {
	g := s.groups[req.Group]
	if g == nil {
		// Only a member without an ID creates a group; a member ID for
		// a group that does not exist is stale.
		if req.MemberID != "" {
			reply(joinErr(req.MemberID, kerr.UnknownMemberID))
			return
		}
		g = newGroup(req.Group)
		s.groups[req.Group] = g
	}
	if g.cg != nil {
		// No online migration between protocols (Kafka's
		// group.consumer.migration.policy=disabled): an empty consumer
		// group becomes classic, a non-empty one refuses classic members.
		if len(g.cg.members) > 0 {
			reply(joinErr(req.MemberID, kerr.InconsistentGroupProtocol))
			return
		}
		s.toClassic(g)
	}
	if req.MemberID == "" {
		s.joinNewMember(g, req, reply)
	} else {
		s.joinKnownMember(g, req, reply)
	}
}

func (s *shard) joinNewMember(g *group, req JoinRequest, reply func(JoinResult)) {
	if g.state == stateDead {
		reply(joinErr("", kerr.CoordinatorNotAvailable))
		return
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		reply(joinErr("", kerr.InconsistentGroupProtocol))
		return
	}
	id := s.c.newMemberID(req.ClientID, req.InstanceID)
	if req.InstanceID != nil {
		if old, ok := g.static[*req.InstanceID]; ok {
			s.replaceStaticMember(g, req, old, id, reply)
			return
		}
		s.addMemberAndRebalance(g, req, id, reply)
		return
	}
	if req.RequireKnownMemberID {
		// KIP-394: hand out an ID and expect the member back with it
		// within its session timeout.
		g.pending[id] = s.after(ms(req.SessionTimeoutMs), func() { s.expirePending(g, id) })
		reply(joinErr(id, kerr.MemberIDRequired))
		return
	}
	s.addMemberAndRebalance(g, req, id, reply)
}

func (s *shard) joinKnownMember(g *group, req JoinRequest, reply func(JoinResult)) {
	id := req.MemberID
	if g.state == stateDead {
		reply(joinErr(id, kerr.CoordinatorNotAvailable))
		return
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		reply(joinErr(id, kerr.InconsistentGroupProtocol))
		return
	}
	if t, ok := g.pending[id]; ok {
		if req.InstanceID != nil {
			// Pending IDs are only handed to dynamic members.
			reply(joinErr(id, kerr.UnknownMemberID))
			return
		}
		t.stop()
		s.addMemberAndRebalance(g, req, id, reply)
		return
	}
	if err := g.validateMember(id, req.InstanceID); err != nil {
		reply(joinErr(id, err))
		return
	}
	m := g.members[id]
	switch g.state {
	case statePreparingRebalance:
		s.updateMemberAndRebalance(g, m, req, reply)
	case stateCompletingRebalance:
		if !m.matches(req.Protocols) {
			s.updateMemberAndRebalance(g, m, req, reply)
			return
		}
		// The member lost the join answer: give it again.
		r := g.joinResult(id)
		if id == g.leader {
			r.Members = g.joinMembers()
		}
		reply(r)
	case stateStable:
		// The leader rejoining forces a rebalance, so it can react to
		// changes the coordinator does not see (such as new partitions).
		if id == g.leader || !m.matches(req.Protocols) {
			s.updateMemberAndRebalance(g, m, req, reply)
			return
		}
		reply(g.joinResult(id))
	default:
		reply(joinErr(id, kerr.UnknownMemberID))
	}
}

func (s *shard) addMemberAndRebalance(g *group, req JoinRequest, id string, reply func(JoinResult)) {
	m := &member{
		id:                 id,
		instanceID:         req.InstanceID,
		clientID:           req.ClientID,
		clientHost:         req.ClientHost,
		sessionTimeoutMs:   req.SessionTimeoutMs,
		rebalanceTimeoutMs: req.RebalanceTimeoutMs,
		protocolType:       req.ProtocolType,
		protocols:          req.Protocols,
		isNew:              true,
	}
	if g.state == statePreparingRebalance && g.prevState == stateEmpty {
		g.newMemberAdded = true
	}
	g.add(m, reply)
	// A new member cannot heartbeat until its join completes; it is
	// dropped if that takes longer than the new member timeout.
	s.scheduleHeartbeat(g, m, s.c.cfg.NewMemberJoinTimeout)
	s.c.log.Debug("member joined group", "group", g.name, "member", id, "state", g.state)
	s.maybePrepareRebalanceOrCompleteJoin(g, "member "+id+" joined")
}

func (s *shard) updateMemberAndRebalance(g *group, m *member, req JoinRequest, reply func(JoinResult)) {
	m.protocols = req.Protocols
	m.sessionTimeoutMs = req.SessionTimeoutMs
	m.rebalanceTimeoutMs = req.RebalanceTimeoutMs
	g.setJoinReply(m, reply)
	s.maybePrepareRebalanceOrCompleteJoin(g, "member "+m.id+" rejoined")
}

// replaceStaticMember gives a static member's place to a new member ID
// (KIP-345): the old ID is fenced and whatever it waits for is answered
// FENCED_INSTANCE_ID. A Stable group keeps its assignment when the
// protocol choice would not change.
func (s *shard) replaceStaticMember(g *group, req JoinRequest, oldID, newID string, reply func(JoinResult)) {
	oldLeader := g.leader
	m := g.members[oldID]
	g.answerJoin(m, JoinResult{Err: kerr.FencedInstanceID, MemberID: oldID, Generation: -1})
	g.answerSync(m, SyncResult{Err: kerr.FencedInstanceID})
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	old := *m
	m.protocols = req.Protocols
	m.sessionTimeoutMs = req.SessionTimeoutMs
	m.rebalanceTimeoutMs = req.RebalanceTimeoutMs
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	g.setJoinReply(m, reply)
	s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
	s.c.log.Info("static member replaced", "group", g.name, "instance", *req.InstanceID, "old_member", oldID, "member", newID, "state", g.state)

	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocol {
			s.maybePrepareRebalanceOrCompleteJoin(g, "static member "+newID+" changed protocols")
			return
		}
		gen := g.generation
		s.write([]kv{groupRecord(g, nil)}, func(err error) {
			if err != nil {
				if s.live(g) && g.members[newID] == m {
					g.answerJoin(m, joinErr("", writeErr(err)))
					delete(g.members, newID)
					m.id = oldID
					m.protocols, m.sessionTimeoutMs, m.rebalanceTimeoutMs = old.protocols, old.sessionTimeoutMs, old.rebalanceTimeoutMs
					m.clientID, m.clientHost = old.clientID, old.clientHost
					g.members[oldID] = m
					g.static[*req.InstanceID] = oldID
					if g.leader == newID {
						g.leader = oldID
					}
					s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
				}
				return
			}
			if !s.live(g) || g.generation != gen {
				return
			}
			r := g.joinResult(newID)
			if req.SupportsSkipAssignment {
				// KIP-814: the leader gets the members but need not
				// assign, as a Stable group keeps its assignment.
				if g.leader == newID {
					r.Members = g.joinMembers()
					r.SkipAssignment = true
				}
			} else {
				// Older clients would assign if told they lead; the
				// previous leader's ID keeps them a follower.
				r.Leader = oldLeader
			}
			g.answerJoin(m, r)
		})
	case stateCompletingRebalance:
		// The leader may have assigned to the old ID: start over.
		s.prepareRebalance(g, "static member "+newID+" replaced "+oldID+" during CompletingRebalance")
	case statePreparingRebalance:
		s.maybeCompleteJoinPhase(g)
	}
}

func (s *shard) maybePrepareRebalanceOrCompleteJoin(g *group, reason string) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		s.prepareRebalance(g, reason)
	default:
		s.maybeCompleteJoinPhase(g)
	}
}

// maybeCompleteJoinPhase ends the join phase once every member rejoined,
// except in a new group's first rebalance, which waits out
// group.initial.rebalance.delay.ms.
func (s *shard) maybeCompleteJoinPhase(g *group) {
	if g.state == statePreparingRebalance && g.allJoined() && g.prevState != stateEmpty {
		s.completeJoin(g)
	}
}

func (s *shard) prepareRebalance(g *group, reason string) {
	if g.state == stateCompletingRebalance {
		s.resetAssignments(g, kerr.RebalanceInProgress)
	}
	g.syncTimer.stop()
	initial := g.state == stateEmpty
	g.transition(statePreparingRebalance)
	s.c.log.Info("preparing to rebalance group", "group", g.name, "generation", g.generation, "reason", reason)
	if initial {
		delay := s.c.cfg.InitialRebalanceDelay
		remaining := max(ms(g.rebalanceTimeoutMs())-delay, 0)
		s.scheduleJoin(g, delay, func() { s.initialDelayDone(g, delay, remaining) })
		return
	}
	if g.allJoined() {
		s.completeJoin(g)
		return
	}
	s.scheduleJoin(g, ms(g.rebalanceTimeoutMs()), func() { s.completeJoin(g) })
}

// initialDelayDone ends a new group's first join phase, unless members
// kept arriving: then it waits another delay, within the rebalance timeout.
func (s *shard) initialDelayDone(g *group, delay, remaining time.Duration) {
	if g.state != statePreparingRebalance {
		return
	}
	if g.newMemberAdded && remaining > 0 {
		g.newMemberAdded = false
		next := min(s.c.cfg.InitialRebalanceDelay, remaining)
		left := max(remaining-delay, 0)
		s.scheduleJoin(g, next, func() { s.initialDelayDone(g, next, left) })
		return
	}
	s.completeJoin(g)
}

func (s *shard) scheduleJoin(g *group, d time.Duration, fn func()) {
	g.joinTimer.stop()
	g.joinTimer = s.after(d, func() {
		if s.live(g) {
			fn()
		}
	})
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are dropped, a new generation starts and every member gets its join
// answer, the leader with the member list to assign.
func (s *shard) completeJoin(g *group) {
	g.joinTimer.stop()
	for _, m := range g.orderedMembers() {
		if m.joinReply == nil && m.instanceID == nil {
			m.heartbeat.stop()
			g.answerSync(m, SyncResult{Err: kerr.UnknownMemberID})
			g.remove(m.id)
			s.c.log.Info("member did not rejoin in time, removed", "group", g.name, "member", m.id)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.maybeElectJoinedLeader() && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait for
		// them to rejoin or time out.
		s.scheduleJoin(g, ms(g.rebalanceTimeoutMs()), func() { s.completeJoin(g) })
		return
	}
	g.initNextGeneration(s.nowMs())
	s.c.log.Info("group generation", "group", g.name, "generation", g.generation, "state", g.state, "protocol", g.protocol, "members", len(g.members))
	if g.state == stateEmpty {
		s.write([]kv{groupRecord(g, nil)}, func(err error) {
			if err != nil {
				s.c.log.Warn("writing empty group metadata failed", "group", g.name, "err", err)
			}
		})
		return
	}
	members := g.joinMembers()
	for _, m := range g.orderedMembers() {
		r := g.joinResult(m.id)
		if m.id == g.leader {
			r.Members = members
		}
		g.answerJoin(m, r)
		s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	gen := g.generation
	g.syncTimer = s.after(ms(g.rebalanceTimeoutMs()), func() { s.expirePendingSync(g, gen) })
}

// resetAssignments clears every assignment and answers waiting syncs with
// err.
func (s *shard) resetAssignments(g *group, err error) {
	for _, m := range g.orderedMembers() {
		m.assignment = nil
		if g.answerSync(m, SyncResult{Err: err}) {
			s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
		}
	}
}

// expirePendingSync removes members that did not sync within the
// rebalance timeout of their generation, and rebalances.
func (s *shard) expirePendingSync(g *group, generation int32) {
	if !s.live(g) || g.generation != generation || len(g.pendingSync) == 0 {
		return
	}
	if g.state != stateCompletingRebalance && g.state != stateStable {
		return
	}
	var ids []string
	for _, m := range g.orderedMembers() {
		if g.pendingSync[m.id] {
			ids = append(ids, m.id)
			m.heartbeat.stop()
			g.remove(m.id)
		}
	}
	s.c.log.Info("members did not sync in time, removed", "group", g.name, "members", ids)
	s.prepareRebalance(g, "members did not sync in time")
}

func (s *shard) scheduleHeartbeat(g *group, m *member, d time.Duration) {
	m.heartbeat.stop()
	id := m.id
	m.heartbeat = s.after(d, func() { s.expireHeartbeat(g, id) })
}

// expireHeartbeat removes a member whose session ran out. A member parked
// in a JoinGroup or SyncGroup counts as alive, unless it is new and its
// join took too long.
func (s *shard) expireHeartbeat(g *group, id string) {
	if !s.live(g) {
		return
	}
	m := g.members[id]
	if m == nil {
		return
	}
	if !m.isNew && (m.joinReply != nil || m.syncReply != nil) {
		return
	}
	s.c.log.Info("member session expired", "group", g.name, "member", id)
	s.removeMember(g, m, "member "+id+" session expired")
}

// expirePending forgets a member ID handed out with MEMBER_ID_REQUIRED that
// never came back.
func (s *shard) expirePending(g *group, id string) {
	if !s.live(g) || g.pending[id] == nil {
		return
	}
	delete(g.pending, id)
	s.maybeCompleteJoinPhase(g)
}

// removeMember takes m out of the group and rebalances what is left.
func (s *shard) removeMember(g *group, m *member, reason string) {
	m.heartbeat.stop()
	g.answerJoin(m, joinErr("", kerr.UnknownMemberID))
	g.answerSync(m, SyncResult{Err: kerr.UnknownMemberID})
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		s.maybePrepareRebalanceOrCompleteJoin(g, reason)
	case statePreparingRebalance:
		if g.allJoined() {
			s.completeJoin(g)
		}
	}
}

func (s *shard) sync(req SyncRequest, reply func(SyncResult)) {
	g := s.groups[req.Group]
	if g == nil || g.state == stateEmpty {
		reply(SyncResult{Err: kerr.UnknownMemberID})
		return
	}
	if g.state == stateDead {
		reply(SyncResult{Err: kerr.CoordinatorNotAvailable})
		return
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		reply(SyncResult{Err: err})
		return
	}
	if req.Generation != g.generation {
		reply(SyncResult{Err: kerr.IllegalGeneration})
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		reply(SyncResult{Err: kerr.InconsistentGroupProtocol})
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		reply(SyncResult{Err: kerr.RebalanceInProgress})
	case stateStable:
		delete(g.pendingSync, m.id)
		s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
		reply(SyncResult{ProtocolType: ptr(g.protocolType), Protocol: ptr(g.protocol), Assignment: m.assignment})
	case stateCompletingRebalance:
		g.answerSync(m, SyncResult{Err: kerr.RebalanceInProgress}) // a resent sync supersedes
		m.syncReply = reply
		delete(g.pendingSync, m.id)
		if m.id != g.leader {
			return
		}
		// The leader's assignment: members it left out get an empty one.
		assignments := make(map[string][]byte, len(g.members))
		for id := range g.members {
			assignments[id] = []byte{}
			if a, ok := req.Assignments[id]; ok && a != nil {
				assignments[id] = a
			}
		}
		gen := g.generation
		s.write([]kv{groupRecord(g, assignments)}, func(err error) {
			if !s.live(g) || g.state != stateCompletingRebalance || g.generation != gen {
				return
			}
			if err != nil {
				s.resetAssignments(g, writeErr(err))
				s.maybePrepareRebalanceOrCompleteJoin(g, "storing the assignment failed")
				return
			}
			for _, m := range g.orderedMembers() {
				m.assignment = assignments[m.id]
				if g.answerSync(m, SyncResult{ProtocolType: ptr(g.protocolType), Protocol: ptr(g.protocol), Assignment: m.assignment}) {
					s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
				}
			}
			g.transition(stateStable)
			s.c.log.Info("group stable", "group", g.name, "generation", g.generation, "members", len(g.members))
		})
	}
}

func (s *shard) heartbeat(req HeartbeatRequest) error {
	g := s.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID
	case statePreparingRebalance:
		s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
		return kerr.RebalanceInProgress
	default:
		s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
		return nil
	}
}

func (s *shard) leave(group string, members []LeaveMember) LeaveResult {
	res := LeaveResult{Members: make([]error, len(members))}
	g := s.groups[group]
	if g == nil {
		for i := range res.Members {
			res.Members[i] = kerr.UnknownMemberID
		}
		return res
	}
	if g.state == stateDead {
		res.Err = kerr.CoordinatorNotAvailable
		return res
	}
	for i, lm := range members {
		reason := lm.Reason
		if reason == "" {
			reason = "not provided"
		}
		switch {
		case lm.MemberID == "":
			// Administrative removal of a static member by instance ID.
			id, ok := "", false
			if lm.InstanceID != nil {
				id, ok = g.static[*lm.InstanceID]
			}
			if !ok {
				res.Members[i] = kerr.UnknownMemberID
				continue
			}
			s.removeMember(g, g.members[id], "static member removed: "+reason)
		case g.pending[lm.MemberID] != nil:
			g.pending[lm.MemberID].stop()
			delete(g.pending, lm.MemberID)
			s.maybeCompleteJoinPhase(g)
		default:
			if err := g.validateMember(lm.MemberID, lm.InstanceID); err != nil {
				res.Members[i] = err
				continue
			}
			s.removeMember(g, g.members[lm.MemberID], "member left: "+reason)
		}
	}
	return res
}
