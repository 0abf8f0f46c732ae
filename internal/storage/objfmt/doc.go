// Package objfmt is the format of Weir's data objects: the immutable objects
// the uploader writes into object storage, each holding record batches of
// several partitions.
//
// An object is a data area of blocks, an index that describes every block,
// and a fixed-size footer at the very end:
//
//	[block 0][block 1]...[block n-1][index][footer]
//	|<------------ data area ------------>|
//
// A reader that knows only the key fetches the last FooterSize bytes
// (ParseFooter), then the index (ParseIndex), then the byte range of the block
// it wants (VerifyBlock). A reader that holds the whole object calls Parse, or
// Verify to also check every block.
//
// # Blocks
//
// A block holds the record batches of one partition, stored verbatim, exactly
// as produced (Weir never re-encodes a batch), in ascending offset order.
// FirstOffset is the base offset of the first batch and LastOffset the last
// offset of the last batch, inclusive. Offsets may have gaps between batches
// (compacted topics). This package never looks inside the batches; it checks
// only what the index can state:
//
//   - a block holds at least one batch, and every batch at least one byte
//     (an empty Add is a programming error, not an empty block);
//   - a batch covers at least one offset, so LastOffset-FirstOffset >= Batches-1;
//   - blocks are laid out back to back in index order, the first at 0 and the
//     last ending where the index starts: no gaps, no overlaps;
//   - a partition may own several blocks in one object, as long as their
//     offset ranges ascend in index order and do not overlap.
//
// An object with no blocks at all is valid (34 bytes: an empty index and the
// footer); the uploader has no reason to write one, but compaction may.
//
// # Index
//
// The index is a version byte (1), the entry count as a uvarint in its
// shortest encoding, then one fixed-width 68-byte entry per block, in block
// order. All integers in entries and in the footer are big-endian:
//
//	off size field
//	  0   16 TopicID       Kafka topic ID (a UUID)
//	 16    4 Partition     int32, >= 0
//	 20    8 FirstOffset   int64, >= 0
//	 28    8 LastOffset    int64, inclusive, >= FirstOffset
//	 36    8 MaxTimestamp  int64, the largest batch MaxTimestamp (may be -1)
//	 44    8 Pos           uint64, block start in the object
//	 52    8 Len           uint64, block length in bytes
//	 60    4 Batches       uint32, number of record batches, 1..MaxInt32
//	 64    4 BlockCRC      uint32, CRC-32C (Castagnoli) of the block bytes
//
// Fixed-width entries cost a few bytes per partition over varints but make
// the count checkable against the index length before anything is allocated,
// and keep entry i at a known position. BlockCRC covers every byte of the
// block, including the batch headers that Kafka's own batch CRC leaves out
// (base offset, length, leader epoch), so a ranged reader can check what it
// fetched before serving it.
//
// # Footer
//
// The footer is FooterSize (32) bytes:
//
//	off size field
//	  0    8 IndexPos      uint64, where the index starts (= data area length)
//	  8    4 IndexLen      uint32, index length in bytes
//	 12    4 IndexCRC      uint32, CRC-32C of the index bytes
//	 16    2 Version       uint16, format version, 1
//	 18    2 reserved      zero
//	 20    4 FooterCRC     uint32, CRC-32C of footer bytes [0,20)
//	 24    8 Magic         "WEIROBJ\x01"
//
// The magic never changes; a new layout gets a new Version. Readers reject
// versions they do not know with ErrVersion, and anything else malformed with
// ErrCorrupt. Every object is exactly IndexPos+IndexLen+FooterSize bytes long;
// Parse checks it, and a ranged reader that knows the object size should too.
//
// # Worked example
//
// An object uploaded by broker 1, at an example key (the key scheme belongs
// to the uploader, not to this package):
//
//	data/0000000001/000000018a2b3c4d5e6f-1-9f3a.obj
//
// holding offsets 100..104 of orders/0 (two batches, of 300 and 212 bytes)
// and offset 7 of payments/3 (one batch of 130 bytes). The index is
// 1 (version) + 1 (count) + 2*68 bytes = 138 bytes; the object is 812 bytes:
//
//	0             512             642             780         812
//	+-------------+---------------+---------------+-----------+
//	| block 0     | block 1       | index         | footer    |
//	| orders/0    | payments/3    | v1, 2 entries | 32 bytes  |
//	| 100..104    | 7..7          |               |           |
//	| 2 batches   | 1 batch       |               |           |
//	+-------------+---------------+---------------+-----------+
//
//	index  [642,780):  01 02
//	  entry 0 [644,712): orders   partition 0  offsets 100..104  Pos 0    Len 512  Batches 2
//	  entry 1 [712,780): payments partition 3  offsets 7..7      Pos 512  Len 130  Batches 1
//	footer [780,812):  IndexPos 642  IndexLen 138  IndexCRC  Version 1  0000  FooterCRC  "WEIROBJ\x01"
//
// A fetch of payments/3 at offset 7 reads bytes [780,812), then [642,780),
// then [512,642), and checks the last against entry 1's BlockCRC. In
// practice the metadata store already holds Pos and Len for each committed
// range, so a fetch needs only the last read. The example in the package
// tests builds this very object.
package objfmt
