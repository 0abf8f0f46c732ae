package share

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/weirdb/weir/internal/batch"
)

// Record kinds: the first int16 of every key of the state topic.
const (
	kindPartition int16 = 0 // a share-partition's SPSO and state runs
	kindGroup     int16 = 1 // a share group's epoch
	kindConfig    int16 = 2 // a group's dynamic configs
)

const valueVersion int16 = 0

var errBadRecord = errors.New("bad share state record")

// TP names a share-partition's topic partition by topic ID, as Kafka's
// share coordinator does: a recreated topic starts with fresh state.
type TP struct {
	TopicID   [16]byte
	Partition int32
}

type enc struct{ b []byte }

func (e *enc) i8(v int8)     { e.b = append(e.b, byte(v)) }
func (e *enc) i16(v int16)   { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *enc) i32(v int32)   { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *enc) i64(v int64)   { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *enc) str(s string)  { e.i16(int16(len(s))); e.b = append(e.b, s...) }
func (e *enc) raw(b []byte)  { e.b = append(e.b, b...) }
func (e *enc) bytes() []byte { return e.b }

type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n int) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.err = errBadRecord
		return make([]byte, max(n, 0))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) i8() int8    { return int8(d.take(1)[0]) }
func (d *dec) i16() int16  { return int16(binary.BigEndian.Uint16(d.take(2))) }
func (d *dec) i32() int32  { return int32(binary.BigEndian.Uint32(d.take(4))) }
func (d *dec) i64() int64  { return int64(binary.BigEndian.Uint64(d.take(8))) }
func (d *dec) str() string { return string(d.take(int(d.i16()))) }
func (d *dec) done() error { return d.err }

func partitionKey(group string, tp TP) []byte {
	var e enc
	e.i16(kindPartition)
	e.str(group)
	e.raw(tp.TopicID[:])
	e.i32(tp.Partition)
	return e.bytes()
}

func groupKey(kind int16, group string) []byte {
	var e enc
	e.i16(kind)
	e.str(group)
	return e.bytes()
}

func partitionValue(spso int64, runs []stateRun) []byte {
	var e enc
	e.i16(valueVersion)
	e.i64(spso)
	e.i32(int32(len(runs)))
	for _, r := range runs {
		e.i64(r.First)
		e.i32(r.Count)
		e.i8(int8(r.State))
		e.i16(r.Deliveries)
	}
	return e.bytes()
}

func groupValue(epoch int32) []byte {
	var e enc
	e.i16(valueVersion)
	e.i32(epoch)
	return e.bytes()
}

func configValue(configs map[string]string) []byte {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	var e enc
	e.i16(valueVersion)
	e.i32(int32(len(names)))
	for _, n := range names {
		e.str(n)
		e.str(configs[n])
	}
	return e.bytes()
}

// entry is one decoded record of the state topic; value nil is a
// tombstone.
type entry struct {
	kind  int16
	group string
	tp    TP

	spso  int64
	runs  []stateRun
	epoch int32
	cfg   map[string]string
}

func decodeEntry(key, value []byte) (entry, bool, error) {
	d := dec{b: key}
	var en entry
	en.kind = d.i16()
	en.group = d.str()
	switch en.kind {
	case kindPartition:
		copy(en.tp.TopicID[:], d.take(16))
		en.tp.Partition = d.i32()
	case kindGroup, kindConfig:
	default:
		return en, false, nil // a kind from a newer version: not ours to read
	}
	if err := d.done(); err != nil {
		return en, false, fmt.Errorf("%w: key", err)
	}
	if value == nil {
		return en, true, nil
	}
	v := dec{b: value}
	if ver := v.i16(); ver != valueVersion {
		return en, false, fmt.Errorf("%w: value version %d", errBadRecord, ver)
	}
	switch en.kind {
	case kindPartition:
		en.spso = v.i64()
		n := v.i32()
		if n < 0 || int64(n)*15 > int64(len(v.b)) { // 15 bytes a run
			return en, false, fmt.Errorf("%w: %d runs", errBadRecord, n)
		}
		for range n {
			en.runs = append(en.runs, stateRun{First: v.i64(), Count: v.i32(), State: RecordState(v.i8()), Deliveries: v.i16()})
		}
	case kindGroup:
		en.epoch = v.i32()
	case kindConfig:
		n := v.i32()
		en.cfg = make(map[string]string)
		for i := int32(0); i < n && v.err == nil; i++ {
			k := v.str()
			en.cfg[k] = v.str()
		}
	}
	if err := v.done(); err != nil {
		return en, false, fmt.Errorf("%w: value of group %q", err, en.group)
	}
	return en, true, nil
}

type kv struct{ key, value []byte }

// encodeBatch is batch.Build of recs.
func encodeBatch(recs []kv, nowMs int64) []byte {
	kvs := make([]batch.KeyValue, len(recs))
	for i, r := range recs {
		kvs[i] = batch.KeyValue{Key: r.key, Value: r.value}
	}
	return batch.Build(nowMs, kvs...)
}
