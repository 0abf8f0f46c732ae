package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts latencies in log-linear buckets: exact below 128 ns,
// then 128 buckets per power of two, so a reported percentile is at most
// 1/128 (0.8 %) above the true sample. Unlike keeping every sample, its
// memory does not grow with the run (a --duration run at a million records
// a second would otherwise hold gigabytes), and Record is lock-free so
// promise callbacks of several clients can share one.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64
}

const (
	histSubBits = 7 // 128 sub-buckets per power of two
	histSub     = 1 << histSubBits
	histBuckets = histSub + (64-histSubBits)*histSub
)

// bucketOf maps a non-negative value to its bucket.
func bucketOf(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	return histSub + shift*histSub + int(v>>shift) - histSub
}

// bucketHigh is the largest value that falls into bucket b.
func bucketHigh(b int) int64 {
	if b < histSub {
		return int64(b)
	}
	shift := (b - histSub) / histSub
	mant := int64((b-histSub)%histSub + histSub)
	return (mant+1)<<shift - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of samples recorded.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the upper
// bound of the bucket holding the ceil(q*n)-th smallest sample, capped at
// the exact maximum. It is 0 without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q * float64(n))
	if float64(rank) < q*float64(n) {
		rank++ // ceil without float rounding surprises on whole numbers
	}
	rank = min(max(rank, 1), n)
	var seen int64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			return time.Duration(min(bucketHigh(b), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Latency summarises the histogram.
func (h *Histogram) Latency() Latency {
	if h.Count() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  h.Quantile(0.50),
		P95:  h.Quantile(0.95),
		P99:  h.Quantile(0.99),
		P999: h.Quantile(0.999),
		Max:  time.Duration(h.max.Load()),
	}
}
