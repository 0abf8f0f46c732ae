package engine

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// TopicID is Kafka's 16-byte topic UUID.
type TopicID [16]byte

func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

type topicRecord struct {
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

// epochStart is one entry of a partition's leader epoch history: the first
// offset written in Epoch.
type epochStart struct {
	Epoch int32 `json:"e"`
	Start int64 `json:"s"`
}

type partState struct {
	Owner    int32        `json:"owner"`
	Epoch    int32        `json:"epoch"`
	Epochs   []epochStart `json:"epochs"`
	LogStart int64        `json:"logStart"`
	Next     int64        `json:"next"`
	// Producer state: ProdSnap names the latest snapshot object ("" for
	// none: empty state), holding the state below offset ProdSnapAt.
	// ProdReplay, when set, is the offset of the first uploaded batch with
	// a producer id that the snapshot lacks: recovery replays uploaded
	// batches from there up to Next.
	ProdSnap   string `json:"psnap,omitempty"`
	ProdSnapAt int64  `json:"psnapAt,omitempty"`
	ProdReplay *int64 `json:"preplay,omitempty"`
}

// rangeRecord locates a committed run of batches of one partition inside
// an object.
type rangeRecord struct {
	Key   string `json:"k"`
	First int64  `json:"f"`
	Last  int64  `json:"l"`
	MaxTs int64  `json:"t"`
	Pos   int64  `json:"p"`
	Len   int64  `json:"n"`
	CRC   uint32 `json:"c"`
}

const (
	keyClusterID = "cluster/id"
	prefixTopics = "topics/"
	prefixParts  = "parts/"
	prefixObjs   = "objs/"
	prefixGC     = "gc/"
	// keyProducerIDs holds the next producer id no broker has reserved.
	keyProducerIDs = "producer-ids/next"
	prefixSnaps    = "snap/" // producer state snapshot objects
)

func topicKey(name string) string { return prefixTopics + name }

func partKey(id TopicID, p int32) string {
	return fmt.Sprintf("%s%s/%010d", prefixParts, id, p)
}

func objsTopicPrefix(id TopicID) string { return prefixObjs + id.String() + "/" }

func objsPartPrefix(id TopicID, p int32) string {
	return fmt.Sprintf("%s%s/%010d/", prefixObjs, id, p)
}

func objKey(id TopicID, p int32, first int64) string {
	return fmt.Sprintf("%s%020d", objsPartPrefix(id, p), first)
}

// parseObjKey returns the partition of an objs/ key under one topic.
func parseObjPartition(key string, id TopicID) (int32, bool) {
	rest, ok := strings.CutPrefix(key, objsTopicPrefix(id))
	if !ok {
		return 0, false
	}
	ps, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	p, err := strconv.ParseInt(ps, 10, 32)
	return int32(p), err == nil
}

func parseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err)) // only plain structs are marshalled
	}
	return b
}

const walEntryHeader = 25

func encodeWALEntry(id TopicID, partition, epoch int32, raw []byte) []byte {
	b := make([]byte, walEntryHeader+len(raw))
	b[0] = 1
	copy(b[1:17], id[:])
	binary.BigEndian.PutUint32(b[17:], uint32(partition))
	binary.BigEndian.PutUint32(b[21:], uint32(epoch))
	copy(b[walEntryHeader:], raw)
	return b
}

func decodeWALEntry(b []byte) (id TopicID, partition, epoch int32, raw []byte, err error) {
	if len(b) < walEntryHeader || b[0] != 1 {
		return id, 0, 0, nil, fmt.Errorf("wal entry: bad header (%d bytes)", len(b))
	}
	copy(id[:], b[1:17])
	partition = int32(binary.BigEndian.Uint32(b[17:]))
	epoch = int32(binary.BigEndian.Uint32(b[21:]))
	return id, partition, epoch, b[walEntryHeader:], nil
}
