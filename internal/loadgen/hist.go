package loadgen

import (
	"math"
	"math/bits"
)

// Histogram counts non-negative values (nanoseconds here) in log-linear buckets, as HDR histograms do:
// values below 2^histSubBits have a bucket each; above, every power-of-two range is split into
// 2^(histSubBits-1) equal buckets, so a bucket is at most 1/128 of its values wide (0.8 %). Values from
// 2^histMaxBits on share the last bucket. The zero value is ready to use; Record never allocates.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    uint64
	max    uint64
}

const (
	histSubBits  = 8
	histSub      = 1 << histSubBits // 256 exact buckets for 0..255
	histHalf     = histSub / 2      // 128 buckets per power of two above
	histMaxBits  = 36               // 2^36 ns ≈ 68.7 s
	histBuckets  = histSub + (histMaxBits-histSubBits)*histHalf
	histOverflow = histBuckets - 1
)

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits // >= 1
	if shift > histMaxBits-histSubBits {
		return histOverflow
	}
	sub := int(v >> uint(shift)) // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + sub - histHalf
}

// bucketRange returns the smallest value of bucket i and the bucket's width.
func bucketRange(i int) (low, width uint64) {
	if i < histSub {
		return uint64(i), 1
	}
	shift := (i-histSub)/histHalf + 1
	sub := uint64((i-histSub)%histHalf + histHalf)
	return sub << uint(shift), 1 << uint(shift)
}

// Record counts one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	u := uint64(max(v, 0))
	h.counts[bucketOf(u)]++
	if h.n == 0 || u < h.min {
		h.min = u
	}
	if u > h.max {
		h.max = u
	}
	h.n++
	h.sum += float64(u)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value recorded, exactly (0 if none).
func (h *Histogram) Min() uint64 { return h.min }

// Max returns the largest value recorded, exactly (0 if none).
func (h *Histogram) Max() uint64 { return h.max }

// Mean returns the mean of the values recorded (0 if none).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the midpoint of the bucket holding the
// ceil(q·n)-th smallest value, clamped to the exact minimum and maximum. Values below 256 are exact;
// above, within half a bucket (0.4 %). It returns 0 if nothing was recorded.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			v := low + (width-1)/2
			if i == histOverflow {
				v = h.max
			}
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds o's counts into h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}
