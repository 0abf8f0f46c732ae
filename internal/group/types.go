package group

// Requests and results of the coordinator's operations. Errors are
// *kerr.Error values (nil on success) so the API layer can put their codes
// on the wire unchanged.

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Protocol is one assignment protocol a member supports, with its
// protocol-specific metadata (for consumers, the subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup request.
type JoinRequest struct {
	Group              string
	MemberID           string  // "" for a member joining the first time
	InstanceID         *string // static membership (KIP-345)
	ClientID           string
	ClientHost         string
	SessionTimeoutMs   int32
	RebalanceTimeoutMs int32
	ProtocolType       string
	Protocols          []Protocol
	// RequireKnownMemberID is set from JoinGroup v4 on (KIP-394): a new
	// dynamic member gets MEMBER_ID_REQUIRED and a member ID to rejoin with.
	RequireKnownMemberID bool
	// SupportsSkipAssignment is set from JoinGroup v9 on (KIP-814).
	SupportsSkipAssignment bool
	Reason                 string
}

// JoinMember is a member as the leader sees it in a JoinGroup response.
type JoinMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// JoinResult is a JoinGroup response.
type JoinResult struct {
	Err            error
	MemberID       string
	Generation     int32
	ProtocolType   *string
	Protocol       *string
	Leader         string
	SkipAssignment bool
	Members        []JoinMember // for the leader only
}

// SyncRequest is a SyncGroup request. ProtocolType and Protocol are
// checked when set (v5+).
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte // from the leader only
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	Err          error
	ProtocolType *string
	Protocol     *string
	Assignment   []byte
}

// HeartbeatRequest is a Heartbeat request.
type HeartbeatRequest struct {
	Group      string
	MemberID   string
	InstanceID *string
	Generation int32
}

// LeaveMember is one member leaving; MemberID may be empty when
// InstanceID names a static member (administrative removal).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
	Reason     string
}

// LeaveResult is a LeaveGroup response: a group-level error or one error
// per member, in request order.
type LeaveResult struct {
	Err     error
	Members []error
}

// CommitOffset is one offset to commit.
type CommitOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// CommitRequest is an OffsetCommit request. Generation -1 with an empty
// member ID commits outside group management.
type CommitRequest struct {
	Group      string
	MemberID   string
	InstanceID *string
	Generation int32
	Offsets    []CommitOffset
	// GroupNotFound answers a commit with a generation to a group that
	// does not exist GROUP_ID_NOT_FOUND (OffsetCommit v9+) instead of
	// ILLEGAL_GENERATION.
	GroupNotFound bool
	// Version is the OffsetCommit version: members of KIP-848 groups
	// must commit with v9+.
	Version int16
}

// FetchRequest is one group of an OffsetFetch request. Nil Partitions asks
// for every committed offset.
type FetchRequest struct {
	Group         string
	Partitions    []TopicPartition
	RequireStable bool
	// CheckMember asks that MemberID and MemberEpoch name a current
	// member of a KIP-848 group (OffsetFetch v9+ with a member ID or an
	// epoch >= 0); classic groups ignore it, as Kafka does.
	CheckMember bool
	MemberID    string
	MemberEpoch int32
}

// FetchedOffset is one committed offset; Offset -1 when there is none.
type FetchedOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	Err         error
}

// FetchResult is one group's answer to OffsetFetch.
type FetchResult struct {
	Err     error
	Offsets []FetchedOffset
}

// DescribedMember is one member of a described group.
type DescribedMember struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte // only when the group is Stable
	Assignment []byte // only when the group is Stable
}

// Described is a DescribeGroups answer for one group.
type Described struct {
	Group        string
	Err          error
	ErrMessage   string
	State        string
	ProtocolType string
	Protocol     string
	Members      []DescribedMember
}

// Listed is one group in a ListGroups answer.
type Listed struct {
	Group        string
	ProtocolType string
	State        string
	Type         string
}

// OffsetDeleteResult is an OffsetDelete answer: a group-level error or
// one error per partition, in request order.
type OffsetDeleteResult struct {
	Err        error
	Partitions []error
}

// TopicInfo is a topic as KIP-848 consumer groups resolve subscriptions
// against it: assignments name topics by ID.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// TopicPartitions is some partitions of one topic, named by ID.
type TopicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
}

// ConsumerHeartbeatRequest is a ConsumerGroupHeartbeat request (KIP-848).
// Nil slices and pointers mean "unchanged since the last request", as on
// the wire.
type ConsumerHeartbeatRequest struct {
	Group       string
	MemberID    string
	MemberEpoch int32
	InstanceID  *string
	RackID      *string
	// RebalanceTimeoutMs is -1 when unchanged.
	RebalanceTimeoutMs   int32
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	ServerAssignor       *string
	// Owned is what the member owns now; nil on a keepalive.
	Owned      []TopicPartitions
	ClientID   string
	ClientHost string
	// MemberIDRequired is set from v1 on (KIP-1082): the client makes
	// its member ID, so an empty one is INVALID_REQUEST.
	MemberIDRequired bool
}

// ConsumerHeartbeatResult is a ConsumerGroupHeartbeat response.
type ConsumerHeartbeatResult struct {
	Err                 error
	ErrMessage          string
	MemberID            string
	MemberEpoch         int32
	HeartbeatIntervalMs int32
	// Assignment is sent only when HasAssignment is set: on joins, full
	// requests and when the member's assignment changed.
	HasAssignment bool
	Assignment    []TopicPartitions
}

// ConsumerDescribedMember is one member in a ConsumerGroupDescribe answer.
type ConsumerDescribedMember struct {
	MemberID             string
	InstanceID           *string
	RackID               *string
	MemberEpoch          int32
	ClientID             string
	ClientHost           string
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	Assignment           []TopicPartitions
	TargetAssignment     []TopicPartitions
}

// ConsumerDescribed is a ConsumerGroupDescribe answer for one group.
type ConsumerDescribed struct {
	Group           string
	Err             error
	ErrMessage      string
	State           string
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerDescribedMember
}
