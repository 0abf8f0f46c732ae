package group

import (
	"cmp"
	"slices"
)

// Server-side assignors of KIP-848 groups (ServerAssignor): "uniform",
// Kafka's default, and "range". Both are pure functions of the members'
// resolved subscriptions, the subscribed topics and (for uniform) the
// previous target assignment, so a reload computes what was computed
// before. Every function here runs on the shard's loop goroutine.

const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

func validAssignor(name string) bool { return name == assignorUniform || name == assignorRange }

// assignMember is one member as an assignor sees it.
type assignMember struct {
	id         string
	instanceID *string
	subs       map[string]bool // resolved subscribed topic names
	previous   assignment      // previous target, for stickiness
}

// assignTP is one assignable partition.
type assignTP struct {
	topic string
	id    tid
	part  int32
}

// assignablePartitions lists every partition of the subscribed topics,
// ordered by topic name and partition.
func assignablePartitions(members []assignMember, tm topicMeta) []assignTP {
	names := make(map[string]bool)
	for _, m := range members {
		for t := range m.subs {
			names[t] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for t := range names {
		sorted = append(sorted, t)
	}
	slices.Sort(sorted)
	var out []assignTP
	for _, t := range sorted {
		ti, ok := tm.byName[t]
		if !ok {
			continue
		}
		for p := int32(0); p < ti.Partitions; p++ {
			out = append(out, assignTP{topic: t, id: ti.ID, part: p})
		}
	}
	return out
}

// assignUniform spreads partitions evenly over the members subscribed to
// them while moving as few as possible: a member keeps the partitions of
// its previous target that it still subscribes to, up to its share, and
// the rest go to the least loaded eligible member. Moves are what KIP-848
// makes expensive (revoke, then assign, a heartbeat each), hence sticky.
func assignUniform(members []assignMember, tps []assignTP) map[string]assignment {
	out := make(map[string]assignment, len(members))
	if len(members) == 0 {
		return out
	}
	type key struct {
		id   tid
		part int32
	}
	topicOf := make(map[key]string, len(tps))
	for _, tp := range tps {
		topicOf[key{tp.id, tp.part}] = tp.topic
	}
	// Keep what is still valid.
	taken := make(map[key]bool, len(tps))
	kept := make(map[string][]assignTP, len(members))
	for _, m := range members {
		for _, id := range sortedTopicIDs(m.previous) {
			for _, p := range m.previous[id] {
				k := key{id, p}
				t, ok := topicOf[k]
				if !ok || !m.subs[t] || taken[k] {
					continue
				}
				taken[k] = true
				kept[m.id] = append(kept[m.id], assignTP{topic: t, id: id, part: p})
			}
		}
	}
	// Shares: floor(N/M) each, one more for the members holding the most
	// already, so the fewest partitions move.
	base, extra := len(tps)/len(members), len(tps)%len(members)
	order := slices.Clone(members)
	slices.SortStableFunc(order, func(a, b assignMember) int { return cmp.Compare(len(kept[b.id]), len(kept[a.id])) })
	quota := make(map[string]int, len(members))
	for i, m := range order {
		quota[m.id] = base
		if i < extra {
			quota[m.id]++
		}
	}
	count := make(map[string]int, len(members))
	for _, m := range members {
		ks := kept[m.id]
		if len(ks) > quota[m.id] {
			for _, tp := range ks[quota[m.id]:] {
				delete(taken, key{tp.id, tp.part})
			}
			ks = ks[:quota[m.id]]
		}
		kept[m.id] = ks
		count[m.id] = len(ks)
	}
	// Hand out the rest, each to the least loaded member subscribed to
	// its topic (ties: the first in member order).
	for _, tp := range tps {
		if taken[key{tp.id, tp.part}] {
			continue
		}
		best := ""
		for _, m := range members {
			if m.subs[tp.topic] && (best == "" || count[m.id] < count[best]) {
				best = m.id
			}
		}
		if best == "" {
			continue
		}
		kept[best] = append(kept[best], tp)
		count[best]++
	}
	for _, m := range members {
		a := assignment{}
		for _, tp := range kept[m.id] {
			a[tp.id] = append(a[tp.id], tp.part)
		}
		a.sort()
		out[m.id] = a
	}
	return out
}

// assignRange gives each member subscribed to a topic a contiguous range
// of its partitions, the first members one more when they do not divide
// evenly. Members are ordered static first (by instance ID), then by
// member ID, as Kafka orders them, so a static member that comes back
// gets the same range.
func assignRange(members []assignMember, tps []assignTP) map[string]assignment {
	order := slices.Clone(members)
	slices.SortFunc(order, func(a, b assignMember) int {
		switch {
		case a.instanceID != nil && b.instanceID != nil:
			return cmp.Compare(*a.instanceID, *b.instanceID)
		case a.instanceID != nil:
			return -1
		case b.instanceID != nil:
			return 1
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make(map[string]assignment, len(members))
	for _, m := range members {
		out[m.id] = assignment{}
	}
	for i := 0; i < len(tps); {
		j := i
		for j < len(tps) && tps[j].topic == tps[i].topic {
			j++
		}
		parts := tps[i:j]
		var subs []string
		for _, m := range order {
			if m.subs[parts[0].topic] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) > 0 {
			base, extra := len(parts)/len(subs), len(parts)%len(subs)
			next := 0
			for k, id := range subs {
				n := base
				if k < extra {
					n++
				}
				for _, tp := range parts[next : next+n] {
					out[id][tp.id] = append(out[id][tp.id], tp.part)
				}
				next += n
			}
		}
		i = j
	}
	return out
}
