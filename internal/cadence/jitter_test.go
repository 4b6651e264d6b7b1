package cadence

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fnv1a64 is FNV-1a written out from its definition (offset basis 14695981039346656037,
// prime 1099511628211), to check Jitter against something other than itself.
func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func TestJitter(t *testing.T) {
	t.Parallel()
	t.Run("known values", func(t *testing.T) {
		t.Parallel()
		// FNV-1a of the empty string is the offset basis; 14695981039346656037 mod 600 = 437.
		require.Equal(t, 437*time.Second, Jitter("", 10*time.Minute))
		for _, key := range []string{"deal-1/qualification/1/intro#1", "deal-2/qualification/1/intro#1", "x"} {
			want := time.Duration(fnv1a64(key)%600) * time.Second
			require.Equal(t, want, Jitter(key, 10*time.Minute), key)
		}
		require.Equal(t, time.Duration(fnv1a64("x")%1000), Jitter("x", time.Microsecond))
	})
	t.Run("stable and bounded", func(t *testing.T) {
		t.Parallel()
		const max = 15 * time.Minute
		seen := map[time.Duration]bool{}
		for i := range 1000 {
			key := fmt.Sprintf("deal-%d/nurturing/2/nurture#%d", i, i%6+1)
			j := Jitter(key, max)
			require.Equal(t, j, Jitter(key, max))
			require.GreaterOrEqual(t, j, time.Duration(0))
			require.Less(t, j, max)
			require.Zero(t, j%time.Second)
			seen[j] = true
		}
		// 1000 keys over 900 possible seconds: a fair hash hits most of them.
		require.Greater(t, len(seen), 500)
	})
	t.Run("no room", func(t *testing.T) {
		t.Parallel()
		require.Zero(t, Jitter("k", 0))
		require.Zero(t, Jitter("k", -time.Minute))
	})
}
