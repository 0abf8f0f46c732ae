package group

import (
	"fmt"
	"testing"
)

// TestAssignUniformBalancedAndSticky: every partition is assigned once,
// counts differ by at most one, and a member joining moves only what it
// takes.
func TestAssignUniformBalancedAndSticky(t *testing.T) {
	tm := topicMeta{byName: map[string]TopicInfo{
		"a": {Name: "a", ID: tid{1}, Partitions: 7},
		"b": {Name: "b", ID: tid{2}, Partitions: 5},
	}}
	subs := map[string]bool{"a": true, "b": true}
	var members []assignMember
	for i := range 3 {
		members = append(members, assignMember{id: fmt.Sprintf("m%d", i), subs: subs})
	}
	check := func(out map[string]assignment) {
		t.Helper()
		seen := map[[2]int64]bool{}
		lo, hi := 1<<30, 0
		for _, a := range out {
			n := 0
			for id, ps := range a {
				for _, p := range ps {
					k := [2]int64{int64(id[0]), int64(p)}
					if seen[k] {
						t.Fatalf("%v assigned twice: %v", k, out)
					}
					seen[k] = true
					n++
				}
			}
			lo, hi = min(lo, n), max(hi, n)
		}
		if len(seen) != 12 || hi-lo > 1 {
			t.Fatalf("unbalanced or incomplete (%d partitions, %d-%d each): %v", len(seen), lo, hi, out)
		}
	}
	first := assignUniform(members, assignablePartitions(members, tm))
	check(first)
	for i := range members {
		members[i].previous = first[members[i].id]
	}
	members = append(members, assignMember{id: "m3", subs: subs})
	second := assignUniform(members, assignablePartitions(members, tm))
	check(second)
	moved := 0
	for _, m := range members[:3] {
		for id, ps := range first[m.id] {
			for _, p := range ps {
				if !second[m.id].has(id, p) {
					moved++
				}
			}
		}
	}
	if got := len(second["m3"].list()); moved != countOf(second["m3"]) || got == 0 {
		t.Fatalf("moved %d partitions, the new member got %d: %v -> %v", moved, countOf(second["m3"]), first, second)
	}
}

func countOf(a assignment) int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// TestAssignRangeStaticFirst: range gives contiguous ranges per topic,
// static members (by instance ID) before dynamic ones.
func TestAssignRangeStaticFirst(t *testing.T) {
	tm := topicMeta{byName: map[string]TopicInfo{"a": {Name: "a", ID: tid{1}, Partitions: 5}}}
	inst := "i0"
	subs := map[string]bool{"a": true}
	members := []assignMember{{id: "x", subs: subs}, {id: "z", instanceID: &inst, subs: subs}}
	out := assignRange(members, assignablePartitions(members, tm))
	if got := fmt.Sprint(out["z"][tid{1}], out["x"][tid{1}]); got != "[0 1 2] [3 4]" {
		t.Fatalf("range: %s", got)
	}
}
