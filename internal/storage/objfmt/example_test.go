package objfmt_test

import (
	"bytes"
	"fmt"

	"github.com/weirdb/weir/internal/storage/objfmt"
)

// The object drawn in the package documentation.
func Example() {
	orders := [16]byte{0x3f, 0x1c, 0x9e, 0x02}   // topic IDs are UUIDs
	payments := [16]byte{0x7a, 0x44, 0x10, 0xd8} // (abridged here)

	var b objfmt.Builder
	b.Add(orders, 0, 100, 104, 1700000000123, [][]byte{
		bytes.Repeat([]byte{1}, 300), // offsets 100..102
		bytes.Repeat([]byte{2}, 212), // offsets 103..104
	})
	b.Add(payments, 3, 7, 7, 1700000000456, [][]byte{
		bytes.Repeat([]byte{3}, 130),
	})
	obj, entries := b.Finish()

	indexPos, indexLen, _ := objfmt.ParseFooter(obj[len(obj)-objfmt.FooterSize:])
	fmt.Printf("object %d bytes, index [%d,%d), footer [%d,%d)\n",
		len(obj), indexPos, indexPos+indexLen, len(obj)-objfmt.FooterSize, len(obj))
	for i, e := range entries {
		fmt.Printf("block %d: partition %d offsets %d..%d [%d,%d) %d batches\n",
			i, e.Partition, e.FirstOffset, e.LastOffset, e.Pos, e.End(), e.Batches)
	}

	// A reader of payments/3 that has the footer and the index fetches
	// only the block and checks it.
	tail := obj[len(obj)-objfmt.FooterSize:]
	index, _ := objfmt.ParseIndex(obj[indexPos:indexPos+indexLen], tail)
	e := index[1]
	fmt.Println("verify:", objfmt.VerifyBlock(e, obj[e.Pos:e.End()]))

	// Output:
	// object 812 bytes, index [642,780), footer [780,812)
	// block 0: partition 0 offsets 100..104 [0,512) 2 batches
	// block 1: partition 3 offsets 7..7 [512,642) 1 batches
	// verify: <nil>
}
