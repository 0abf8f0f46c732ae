package group

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Committed offsets. Commits and deletions change a group's offsets only
// once their records are durable, in log order, so what OffsetFetch
// returns is what a reload would find.

func (s *shard) commit(req CommitRequest, reply func([]error)) {
	errs := make([]error, len(req.Offsets))
	fail := func(err error) {
		for i := range errs {
			errs[i] = err
		}
		reply(errs)
	}
	g := s.groups[req.Group]
	created := false
	if g == nil {
		if req.Generation >= 0 {
			if req.GroupNotFound {
				fail(kerr.GroupIDNotFound)
			} else {
				fail(kerr.IllegalGeneration)
			}
			return
		}
		// A consumer outside group management, or an admin: the group
		// exists only to hold offsets.
		g = newGroup(req.Group)
		s.groups[req.Group] = g
		created = true
	}
	if g.cg != nil {
		if err := s.validateConsumerCommit(g, req, false, errs); err != nil {
			fail(err)
			return
		}
	} else if err := g.validateCommit(req.MemberID, req.InstanceID, req.Generation); err != nil {
		fail(err)
		return
	}
	if m := g.members[req.MemberID]; m != nil && (g.state == stateStable || g.state == statePreparingRebalance) {
		s.scheduleHeartbeat(g, m, ms(m.sessionTimeoutMs))
	}
	now := s.nowMs()
	recs, idx, vals := s.offsetRecords(g.name, req.Offsets, errs, now)
	for _, i := range idx {
		g.pendingCommits[req.Offsets[i].TopicPartition]++
	}
	if len(recs) == 0 {
		s.dropIfUnused(g, created)
		reply(errs)
		return
	}
	s.write(recs, func(err error) {
		for j, i := range idx {
			tp := req.Offsets[i].TopicPartition
			if g.pendingCommits[tp]--; g.pendingCommits[tp] <= 0 {
				delete(g.pendingCommits, tp)
			}
			if err != nil {
				errs[i] = writeErr(err)
				continue
			}
			g.offsets[tp] = vals[j]
		}
		if err != nil {
			s.dropIfUnused(g, created)
		}
		reply(errs)
	})
}

// dropIfUnused forgets a group made for a commit that stored nothing.
func (s *shard) dropIfUnused(g *group, created bool) {
	if created && s.live(g) && g.state == stateEmpty && g.protocolType == "" &&
		len(g.members) == 0 && len(g.offsets) == 0 && len(g.pendingCommits) == 0 {
		delete(s.groups, g.name)
	}
}

func (s *shard) fetch(req FetchRequest) FetchResult {
	var res FetchResult
	g := s.groups[req.Group]
	if g == nil {
		for _, tp := range req.Partitions {
			fo := FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
			if req.RequireStable && s.txnPendingFor(req.Group, tp) {
				fo.Err = kerr.UnstableOffsetCommit
			}
			res.Offsets = append(res.Offsets, fo)
		}
		return res
	}
	if g.cg != nil && req.CheckMember {
		// As Kafka: a member of a consumer group fetches with its
		// current epoch.
		m := g.cg.members[req.MemberID]
		if m == nil {
			return FetchResult{Err: kerr.UnknownMemberID}
		}
		if m.epoch != req.MemberEpoch {
			return FetchResult{Err: kerr.StaleMemberEpoch}
		}
	}
	tps := req.Partitions
	if tps == nil {
		for tp := range g.offsets {
			tps = append(tps, tp)
		}
		sortPartitions(tps)
	}
	for _, tp := range tps {
		fo := FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
		if req.RequireStable && (g.pendingCommits[tp] > 0 || s.txnPendingFor(g.name, tp)) {
			fo.Err = kerr.UnstableOffsetCommit
		} else if o, ok := g.offsets[tp]; ok {
			fo.Offset, fo.LeaderEpoch, fo.Metadata = o.offset, o.leaderEpoch, o.metadata
		}
		res.Offsets = append(res.Offsets, fo)
	}
	return res
}

func sortPartitions(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// subscribedTo reports whether the group's consumers subscribe to topic.
func (g *group) subscribedTo(topic string) bool {
	if g.cg != nil {
		return g.cg.subscribedTo(topic)
	}
	return g.subscribed[topic]
}

// hasMembers reports whether the group has members, classic or KIP-848
// (static members away for a while included, as in Kafka).
func (g *group) hasMembers() bool {
	return g.state != stateEmpty || (g.cg != nil && len(g.cg.members) > 0)
}

// deleteOffsets is OffsetDelete: a group with members may only lose
// offsets of topics its consumers do not subscribe to.
func (s *shard) deleteOffsets(group string, tps []TopicPartition, reply func(OffsetDeleteResult)) {
	g := s.groups[group]
	if g == nil || g.state == stateDead {
		reply(OffsetDeleteResult{Err: kerr.GroupIDNotFound})
		return
	}
	if g.state != stateEmpty && g.protocolType != consumerProtocolType {
		reply(OffsetDeleteResult{Err: kerr.NonEmptyGroup})
		return
	}
	res := OffsetDeleteResult{Partitions: make([]error, len(tps))}
	var recs []kv
	var gone []TopicPartition
	for i, tp := range tps {
		if g.hasMembers() && g.subscribedTo(tp.Topic) {
			res.Partitions[i] = kerr.GroupSubscribedToTopic
			continue
		}
		if _, ok := g.offsets[tp]; ok || g.pendingCommits[tp] > 0 {
			recs = append(recs, offsetTombstone(g.name, tp))
			gone = append(gone, tp)
		}
	}
	if len(recs) == 0 {
		reply(res)
		return
	}
	s.write(recs, func(err error) {
		if err != nil {
			res.Err = writeErr(err)
		} else {
			for _, tp := range gone {
				delete(g.offsets, tp)
			}
		}
		reply(res)
	})
}

// deleteTopicOffsets is what Kafka does once topics are deleted
// (onPartitionsDeleted): every group loses its offsets of them, pending
// ones too, so that a topic created again under the same name is read
// from auto.offset.reset rather than from the old topic's offsets. As in
// Kafka's current coordinator, a group left Empty without offsets goes at
// the next expiry check.
func (s *shard) deleteTopicOffsets(topics map[string]bool, reply func(error)) {
	names := make([]string, 0, len(s.groups))
	for name := range s.groups {
		names = append(names, name)
	}
	sort.Strings(names)
	type removal struct {
		g   *group
		tps []TopicPartition
	}
	var removals []removal
	var recs []kv
	for _, name := range names {
		g := s.groups[name]
		var tps []TopicPartition
		for tp := range g.offsets {
			if topics[tp.Topic] {
				tps = append(tps, tp)
			}
		}
		for tp := range g.pendingCommits {
			if _, ok := g.offsets[tp]; !ok && topics[tp.Topic] {
				tps = append(tps, tp)
			}
		}
		if len(tps) == 0 {
			continue
		}
		sortPartitions(tps)
		for _, tp := range tps {
			recs = append(recs, offsetTombstone(g.name, tp))
		}
		removals = append(removals, removal{g, tps})
	}
	if len(recs) == 0 {
		reply(nil)
		return
	}
	// Pending commits were appended before these tombstones, so they
	// complete first and the deletion below has the last word, as a
	// reload of the log would.
	s.write(recs, func(err error) {
		if err != nil {
			reply(writeErr(err))
			return
		}
		for _, r := range removals {
			for _, tp := range r.tps {
				delete(r.g.offsets, tp)
			}
		}
		s.c.log.Info("offsets of deleted topics removed", "partition", s.index, "groups", len(removals), "offsets", len(recs))
		reply(nil)
	})
}

// deleteGroup is DeleteGroups for one group: only an Empty group goes,
// with all its offsets.
func (s *shard) deleteGroup(name string, reply func(error)) {
	g := s.groups[name]
	if g == nil || g.state == stateDead {
		reply(kerr.GroupIDNotFound)
		return
	}
	if g.hasMembers() {
		reply(kerr.NonEmptyGroup)
		return
	}
	recs := s.removeGroup(g, nil)
	s.write(recs, func(err error) { reply(writeErr(err)) })
}

// removeGroup takes g out of the shard (it becomes Dead) and returns the
// tombstones for its offsets, pending ones too, and its metadata. Extra
// tombstones are added first.
func (s *shard) removeGroup(g *group, recs []kv) []kv {
	tps := make([]TopicPartition, 0, len(g.offsets)+len(g.pendingCommits))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	for tp := range g.pendingCommits {
		if _, ok := g.offsets[tp]; !ok {
			tps = append(tps, tp)
		}
	}
	sortPartitions(tps)
	for _, tp := range tps {
		recs = append(recs, offsetTombstone(g.name, tp))
	}
	recs = append(recs, groupTombstone(g.name))
	if g.cg != nil {
		recs = append(recs, consumerTombstone(g.name))
	}
	s.unload(g)
	g.transition(stateDead)
	delete(s.groups, g.name)
	s.c.log.Info("group removed", "group", g.name)
	return recs
}

func (s *shard) scheduleExpiry() {
	s.expiry = s.after(s.c.cfg.OffsetsRetentionCheckInterval, func() {
		s.expireOffsets()
		s.scheduleExpiry()
	})
}

// expireOffsets applies offsets.retention.minutes as Kafka does (KIP-211):
// an Empty group's offsets expire a retention period after it became
// Empty; a simple (offsets only) group's a retention period after each
// commit; a Stable consumer group's offsets of topics it no longer
// subscribes to a retention period after their commit. An Empty group
// left without offsets is deleted.
func (s *shard) expireOffsets() {
	now := s.nowMs()
	retention := s.c.cfg.OffsetsRetention.Milliseconds()
	names := make([]string, 0, len(s.groups))
	for name := range s.groups {
		names = append(names, name)
	}
	sort.Strings(names)
	var recs []kv
	type expired struct {
		g   *group
		tps []TopicPartition
	}
	var all []expired
	for _, name := range names {
		g := s.groups[name]
		var base func(o offset) int64
		switch {
		case g.cg != nil:
			// As Kafka for consumer groups: a retention period
			// after the commit, unless a member subscribes.
			base = func(o offset) int64 { return o.commitMs }
		case g.protocolType == "":
			base = func(o offset) int64 { return o.commitMs }
		case g.state == stateEmpty:
			base = func(o offset) int64 {
				if g.stateMs >= 0 {
					return g.stateMs
				}
				return o.commitMs
			}
		case g.protocolType == consumerProtocolType && g.subscribed != nil && g.state == stateStable:
			base = func(o offset) int64 { return o.commitMs }
		}
		var tps []TopicPartition
		if base != nil {
			for tp, o := range g.offsets {
				if g.pendingCommits[tp] > 0 || g.subscribedTo(tp.Topic) {
					continue
				}
				if now-base(o) >= retention {
					tps = append(tps, tp)
				}
			}
		}
		sortPartitions(tps)
		if !g.hasMembers() && len(g.pendingCommits) == 0 && len(tps) == len(g.offsets) && (g.cg == nil || g.cg.writing == 0) {
			if len(tps) > 0 {
				s.c.log.Info("offsets expired", "group", g.name, "partitions", len(tps))
			}
			recs = append(recs, s.removeGroup(g, nil)...)
			continue
		}
		if len(tps) == 0 {
			continue
		}
		s.c.log.Info("offsets expired", "group", g.name, "partitions", len(tps))
		for _, tp := range tps {
			recs = append(recs, offsetTombstone(g.name, tp))
		}
		all = append(all, expired{g, tps})
	}
	if len(recs) == 0 {
		return
	}
	s.write(recs, func(err error) {
		if err != nil {
			s.c.log.Warn("writing expired offsets failed", "partition", s.index, "err", err)
			return
		}
		for _, e := range all {
			for _, tp := range e.tps {
				delete(e.g.offsets, tp)
			}
		}
	})
}

// OffsetsRetentionCheckDefault is Kafka's offsets.retention.check.interval.ms.
const OffsetsRetentionCheckDefault = 10 * time.Minute

// offsetRecords makes the __consumer_offsets records of a commit, plain or
// transactional, committed at now. An offset whose metadata is too large
// gets OFFSET_METADATA_TOO_LARGE in errs and no record, as does one with
// an error in errs already; idx names the
// offsets that have one, vals their values.
func (s *shard) offsetRecords(group string, offsets []CommitOffset, errs []error, now int64) (recs []kv, idx []int, vals []offset) {
	for i, o := range offsets {
		if errs[i] != nil {
			continue // refused already (KIP-1251 epoch checks)
		}
		md := ""
		if o.Metadata != nil {
			md = *o.Metadata
		}
		if len(md) > s.c.cfg.MaxMetadataBytes {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		v := offset{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: md, commitMs: now}
		recs = append(recs, offsetRecord(group, o.TopicPartition, v))
		idx = append(idx, i)
		vals = append(vals, v)
	}
	return recs, idx, vals
}
