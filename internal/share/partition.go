package share

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// RecordState is a record's delivery state in a share-partition, with
// Kafka's RecordState codes (they are also what the state log stores).
type RecordState int8

const (
	Available    RecordState = 0
	Acquired     RecordState = 1
	Acknowledged RecordState = 2
	Archived     RecordState = 4
)

// Acknowledgement types of ShareFetch and ShareAcknowledge (Kafka's
// AcknowledgeType; Gap is 0 on the wire and archives the offset).
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4 // ShareAcknowledge/ShareFetch v2 with IsRenewAck (KIP-1222)
)

// AckBatch acknowledges offsets First..Last: one type for all of them, or
// one per offset.
type AckBatch struct {
	First, Last int64
	Types       []int8
}

// Range is a run of acquired offsets delivered the same number of times.
type Range struct {
	First, Last int64
	Deliveries  int16
}

// record is the state of one offset inside the in-flight window.
type record struct {
	state      RecordState
	deliveries int16
	member     string // holder while Acquired
	deadline   int64  // lock expiry while Acquired, unix nanoseconds
}

// partition is one share-partition: the share-partition start offset
// (SPSO) and the state of every offset from it to end. Offsets at or past
// end have never been acquired: they are Available with no deliveries.
// recs[i] is offset spso+i, so len(recs) == end-spso always.
//
// It is not safe for concurrent use; the Coordinator's mutex guards it.
type partition struct {
	spso int64
	recs []record
}

func newPartition(spso int64) *partition { return &partition{spso: spso} }

func (p *partition) end() int64 { return p.spso + int64(len(p.recs)) }

// at returns the record of offset o, which must be in [spso, end).
func (p *partition) at(o int64) *record { return &p.recs[o-p.spso] }

// reset moves the SPSO to o and forgets every record state, as
// AlterShareGroupOffsets does.
func (p *partition) reset(o int64) {
	p.spso = o
	p.recs = nil
}

// trimTo moves the SPSO up to logStart when retention or DeleteRecords
// removed the records it pointed at: they can never be delivered.
func (p *partition) trimTo(logStart int64) {
	if logStart <= p.spso {
		return
	}
	if logStart >= p.end() {
		p.reset(logStart)
		return
	}
	p.recs = p.recs[logStart-p.spso:]
	p.spso = logStart
}

// advance moves the SPSO past the leading run of Acknowledged and Archived
// records, which are finished for good, and reports whether it moved.
func (p *partition) advance() bool {
	n := 0
	for n < len(p.recs) && (p.recs[n].state == Acknowledged || p.recs[n].state == Archived) {
		n++
	}
	if n == 0 {
		return false
	}
	p.spso += int64(n)
	if n == len(p.recs) {
		p.recs = nil // drop the backing array with the window
	} else {
		p.recs = p.recs[n:]
	}
	return true
}

// acquire hands up to max Available records in [from, limit) to member,
// locked until deadline, and returns them as ranges. The caller has read
// the batches of that range: a record acquired outside it would reach the
// client without its data, and the client acknowledges such offsets as
// gaps, archiving them. The window may not grow past
// spso+maxLocks (Kafka's group.share.partition.max.record.locks); records
// inside it stay acquirable. A record that has already been delivered
// limit times is archived instead.
func (p *partition) acquire(member string, from, limit int64, max int, maxLocks int64, deliveryLimit int16, deadline int64) []Range {
	var out []Range
	take := func(o int64, r *record) {
		r.state, r.member, r.deadline = Acquired, member, deadline
		r.deliveries++
		if n := len(out); n > 0 && out[n-1].Last == o-1 && out[n-1].Deliveries == r.deliveries {
			out[n-1].Last = o
			return
		}
		out = append(out, Range{First: o, Last: o, Deliveries: r.deliveries})
	}
	count := 0
	for i := range p.recs {
		o := p.spso + int64(i)
		if count >= max || o >= limit {
			break
		}
		r := &p.recs[i]
		if r.state != Available || o < from {
			continue
		}
		if r.deliveries >= deliveryLimit {
			r.state, r.member = Archived, ""
			continue
		}
		take(o, r)
		count++
	}
	for count < max && p.end() < limit && (maxLocks <= 0 || int64(len(p.recs)) < maxLocks) {
		o := p.end()
		p.recs = append(p.recs, record{})
		if o < from {
			continue // never delivered, left Available
		}
		take(o, &p.recs[len(p.recs)-1])
		count++
	}
	p.advance()
	return out
}

// unacquire undoes an acquisition whose records could not be read: they
// become Available again and the delivery does not count.
func (p *partition) unacquire(member string, rs []Range) {
	for _, rg := range rs {
		for o := max(rg.First, p.spso); o <= rg.Last && o < p.end(); o++ {
			r := p.at(o)
			if r.state == Acquired && r.member == member {
				r.state, r.member = Available, ""
				r.deliveries--
			}
		}
	}
}

// release makes an acquired record Available again, or Archived once it
// has been delivered deliveryLimit times. It reports whether the record
// became Available.
func (r *record) release(deliveryLimit int16) bool {
	r.member = ""
	if r.deliveries >= deliveryLimit {
		r.state = Archived
		return false
	}
	r.state = Available
	return true
}

// releaseMember releases every record member holds, as when it leaves the
// group or closes its share session, and reports whether any became
// Available.
func (p *partition) releaseMember(member string, deliveryLimit int16) bool {
	freed := false
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && r.member == member {
			freed = r.release(deliveryLimit) || freed
		}
	}
	p.advance()
	return freed
}

// expire releases every record whose acquisition lock ran out by now and
// returns how many were released or archived.
func (p *partition) expire(now int64, deliveryLimit int16) int {
	n := 0
	for i := range p.recs {
		if r := &p.recs[i]; r.state == Acquired && r.deadline <= now {
			r.release(deliveryLimit)
			n++
		}
	}
	if n > 0 {
		p.advance()
	}
	return n
}

// validAckBatches checks the shape of a partition's acknowledgement
// batches as Kafka does: ascending, not overlapping, one type or one per
// offset, every type known (Renew only when allowed).
func validAckBatches(batches []AckBatch, allowRenew bool) error {
	maxType := AckReject
	if allowRenew {
		maxType = AckRenew
	}
	prevLast := int64(-1)
	for _, b := range batches {
		if b.First < 0 || b.First > b.Last || b.First <= prevLast || len(b.Types) == 0 {
			return kerr.InvalidRequest
		}
		if len(b.Types) > 1 && int64(len(b.Types)) != b.Last-b.First+1 {
			return kerr.InvalidRequest
		}
		for _, t := range b.Types {
			if t < 0 || t > maxType {
				return kerr.InvalidRequest
			}
		}
		prevLast = b.Last
	}
	return nil
}

// acknowledge applies batches for member, all or nothing: every offset at
// or above the SPSO must be acquired by member (else INVALID_RECORD_STATE;
// past the window, INVALID_REQUEST). It reports whether any record became
// Available.
func (p *partition) acknowledge(member string, batches []AckBatch, allowRenew bool, deliveryLimit int16, renewDeadline int64) (freed bool, err error) {
	if err := validAckBatches(batches, allowRenew); err != nil {
		return false, err
	}
	for _, b := range batches {
		if b.Last >= p.end() {
			return false, kerr.InvalidRequest
		}
		for o := max(b.First, p.spso); o <= b.Last; o++ {
			if r := p.at(o); r.state != Acquired || r.member != member {
				return false, kerr.InvalidRecordState
			}
		}
	}
	for _, b := range batches {
		for o := max(b.First, p.spso); o <= b.Last; o++ {
			t := b.Types[0]
			if len(b.Types) > 1 {
				t = b.Types[o-b.First]
			}
			r := p.at(o)
			switch t {
			case AckAccept:
				r.state, r.member = Acknowledged, ""
			case AckGap, AckReject:
				r.state, r.member = Archived, ""
			case AckRelease:
				freed = r.release(deliveryLimit) || freed
			case AckRenew:
				r.deadline = renewDeadline
			}
		}
	}
	p.advance()
	return freed, nil
}

// finished counts the records at or above the SPSO and below hw that need
// no more delivery, for DescribeShareGroupOffsets' lag.
func (p *partition) finished(hw int64) int64 {
	var n int64
	for i := range p.recs {
		if p.spso+int64(i) >= hw {
			break
		}
		if s := p.recs[i].state; s == Acknowledged || s == Archived {
			n++
		}
	}
	return n
}

// stateRun is a run of offsets in one persisted state: what the state log
// keeps of a share-partition beyond its SPSO.
type stateRun struct {
	First      int64
	Count      int32
	State      RecordState // Available (with deliveries), Acknowledged or Archived
	Deliveries int16
}

// snapshot returns the persisted form of the window: runs of equal state.
// Acquired records are stored as Available with their delivery count, so a
// restarted broker redelivers them (at least once) and still counts their
// deliveries against the limit; never-delivered Available records are
// left out.
func (p *partition) snapshot() []stateRun {
	var out []stateRun
	for i, r := range p.recs {
		st := r.state
		if st == Acquired {
			st = Available
		}
		if st == Available && r.deliveries == 0 {
			continue
		}
		o := p.spso + int64(i)
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.State == st && last.Deliveries == r.deliveries && last.First+int64(last.Count) == o {
				last.Count++
				continue
			}
		}
		out = append(out, stateRun{First: o, Count: 1, State: st, Deliveries: r.deliveries})
	}
	return out
}

// restore rebuilds a partition from its persisted form.
func restore(spso int64, runs []stateRun) *partition {
	p := newPartition(spso)
	for _, rn := range runs {
		if rn.First < p.end() || rn.Count <= 0 { // runs are ascending and disjoint
			continue
		}
		for p.end() < rn.First {
			p.recs = append(p.recs, record{})
		}
		for range rn.Count {
			p.recs = append(p.recs, record{state: rn.State, deliveries: rn.Deliveries})
		}
	}
	p.advance()
	return p
}
