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
}

// FetchRequest is one group of an OffsetFetch request. Nil Partitions asks
// for every committed offset.
type FetchRequest struct {
	Group         string
	Partitions    []TopicPartition
	RequireStable bool
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
