package loadgen

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestBucketsCoverValues(t *testing.T) {
	values := []uint64{0, 1, 255, 256, 257, 511, 512, 513, 1000, 1 << 20, 1<<20 - 1, 1<<20 + 1, 123456789, 1<<36 - 1}
	for s := 9; s < 36; s++ {
		values = append(values, 1<<s-1, 1<<s, 1<<s+1)
	}
	for _, v := range values {
		i := bucketOf(v)
		low, width := bucketRange(i)
		if v < low || v >= low+width {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, low, low+width)
		}
		if v >= histSub && float64(width)/float64(low) > 1.0/histHalf {
			t.Errorf("bucket of %d is %d wide at %d: wider than 1/%d", v, width, low, histHalf)
		}
	}
	// Buckets are contiguous and ordered.
	for i := 1; i < histBuckets; i++ {
		pl, pw := bucketRange(i - 1)
		l, _ := bucketRange(i)
		if pl+pw != l {
			t.Fatalf("bucket %d ends at %d, bucket %d begins at %d", i-1, pl+pw, i, l)
		}
	}
	if got := bucketOf(math.MaxUint64); got != histOverflow {
		t.Errorf("bucketOf(max) = %d, want overflow bucket %d", got, histOverflow)
	}
}

func TestQuantileExactForSmallValues(t *testing.T) {
	var h Histogram
	for v := int64(100); v >= 1; v-- {
		h.Record(v)
	}
	tests := []struct {
		q    float64
		want uint64
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.505, 51}, {0.9, 90}, {0.99, 99}, {1, 100}, {-1, 1}, {2, 100}}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %d, want %d", tt.q, got, tt.want)
		}
	}
	if h.Count() != 100 || h.Min() != 1 || h.Max() != 100 || h.Mean() != 50.5 {
		t.Errorf("count %d min %d max %d mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
}

func TestQuantileWithinBucketPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]float64, 100000)
	for i := range vals {
		// Log-normal around 40 µs, as response times look.
		v := math.Exp(rng.NormFloat64()*0.8 + math.Log(40000))
		vals[i] = math.Floor(v)
		h.Record(int64(v))
	}
	sort.Float64s(vals)
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := float64(h.Quantile(q))
		if rel := math.Abs(got-exact) / exact; rel > 1.0/histSub {
			t.Errorf("Quantile(%v) = %v, exact %v: relative error %.4f > %.4f", q, got, exact, rel, 1.0/histSub)
		}
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Min() != 0 || h.Max() != 0 {
		t.Error("empty histogram is not all zero")
	}
	h.Record(-5)
	if h.Min() != 0 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Errorf("negative value not counted as 0: min %d max %d", h.Min(), h.Max())
	}
	const huge = int64(1e12) // beyond 2^36 ns: shares the last bucket, max stays exact
	h.Record(huge)
	if h.Max() != uint64(huge) || h.Quantile(1) != uint64(huge) {
		t.Errorf("max %d, p100 %d, want %d", h.Max(), h.Quantile(1), huge)
	}
	if h.Quantile(0.5) != 0 {
		t.Errorf("p50 of {0, huge} = %d, want 0", h.Quantile(0.5))
	}
}

func TestMergeEqualsRecordingAll(t *testing.T) {
	var a, b, all Histogram
	for i := int64(0); i < 5000; i++ {
		v := i * i % 999983
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var empty Histogram
	a.Merge(&empty)
	a.Merge(&b)
	if a != all {
		t.Errorf("merged histogram differs: count %d/%d min %d/%d max %d/%d", a.Count(), all.Count(), a.Min(), all.Min(), a.Max(), all.Max())
	}
	empty.Merge(&all)
	if empty != all {
		t.Error("merge into an empty histogram differs")
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	h := new(Histogram)
	v := int64(0)
	if n := testing.AllocsPerRun(1000, func() { v += 977; h.Record(v) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	v := int64(0)
	for b.Loop() {
		v = (v + 7919) % 10_000_000
		h.Record(v)
	}
}
