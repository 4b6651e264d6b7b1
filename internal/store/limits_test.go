package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/pgtest"
	"github.com/followup-engine/followup/internal/store"
)

func newDealWith(t *testing.T, st *store.Store, ext, contact string) store.Deal {
	t.Helper()
	c, err := st.CreateDeal(context.Background(), store.NewDeal{
		Source: "crm", ExternalID: ext,
		Owner:          store.OwnerInput{Email: "ana@vendor.test", Name: "Ana"},
		Contact:        store.ContactInput{Email: contact, FirstName: "Bob"},
		CadenceVersion: cadence.DefaultVersion, EventID: "create:" + ext, SourceTime: time.Now(),
	})
	require.NoError(t, err)
	return c.Deal
}

func claim(t *testing.T, st *store.Store, d store.Deal, address string) store.LedgerKey {
	t.Helper()
	key := store.LedgerKey{DealID: d.ID, Visit: 1, StepID: "intro", Occurrence: 1}
	c, err := st.ClaimEmail(context.Background(), store.ClaimRequest{Key: key, ContactID: d.ContactID, Address: address,
		Template: "intro", MessageID: "m-" + d.ID + "@test", Lease: time.Hour})
	require.NoError(t, err)
	require.True(t, c.Granted)
	return key
}

// Twenty sends race for a mailbox with a cap of five: exactly five go out, fifteen are
// deferred (not failed) until the oldest counted send leaves the 24-hour window.
func TestMailboxCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	const n, limit = 20, 5
	type job struct {
		d       store.Deal
		key     store.LedgerKey
		address string
	}
	jobs := make([]job, n)
	for i := range jobs {
		addr := fmt.Sprintf("p%d@prospect.test", i)
		d := newDealWith(t, st, fmt.Sprintf("cap-%d", i), addr)
		jobs[i] = job{d: d, key: claim(t, st, d, addr), address: addr}
	}
	var (
		mu       sync.Mutex
		sent     int
		deferred []store.MailboxSlot
		wg       sync.WaitGroup
	)
	start := time.Now()
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slot, err := st.ReserveMailboxSlot(ctx, j.key, "Sales@Vendor.test", limit)
			require.NoError(t, err)
			if !slot.Granted {
				mu.Lock()
				deferred = append(deferred, slot)
				mu.Unlock()
				return
			}
			out, err := st.SendLockedSpaced(ctx, j.key, j.d.ContactID, j.address, 24*time.Hour, store.Envelope{}, func(context.Context) store.SendOutcome {
				time.Sleep(20 * time.Millisecond) // SMTP takes a moment; the mailbox lock is not held meanwhile
				return store.SendOutcome{State: store.EmailSent}
			})
			require.NoError(t, err)
			require.Equal(t, store.EmailSent, out.State)
			mu.Lock()
			sent++
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, limit, sent)
	require.Len(t, deferred, n-limit)
	for _, slot := range deferred {
		require.Equal(t, limit, slot.Sent)
		require.WithinDuration(t, start.Add(store.CapWindow), slot.NotBefore, time.Minute)
	}
	var states map[string]int = map[string]int{}
	rows, err := st.Pool().Query(ctx, `SELECT state, count(*) FROM email_ledger GROUP BY state`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		var c int
		require.NoError(t, rows.Scan(&s, &c))
		states[s] = c
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int{store.EmailSent: limit, store.EmailDeferred: n - limit}, states)

	// A deferred row is claimed again later with the same key and Message-ID; the mailbox is
	// still full, so it is deferred again.
	for _, j := range jobs {
		entries, err := st.Ledger(ctx, j.d.ID)
		require.NoError(t, err)
		if entries[0].State != store.EmailDeferred {
			continue
		}
		again, err := st.ClaimEmail(ctx, store.ClaimRequest{Key: j.key, ContactID: j.d.ContactID, Address: j.address,
			Template: "intro", MessageID: "other@test", Lease: time.Hour})
		require.NoError(t, err)
		require.True(t, again.Granted)
		require.False(t, again.Ambiguous)
		require.Equal(t, "m-"+j.d.ID+"@test", again.MessageID)
		slot, err := st.ReserveMailboxSlot(ctx, j.key, "sales@vendor.test", limit)
		require.NoError(t, err)
		require.False(t, slot.Granted)
		break
	}
}

func TestFailedSendsFreeTheirMailboxSlot(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	d1 := newDealWith(t, st, "free-1", "a@prospect.test")
	d2 := newDealWith(t, st, "free-2", "b@prospect.test")
	k1, k2 := claim(t, st, d1, "a@prospect.test"), claim(t, st, d2, "b@prospect.test")
	slot, err := st.ReserveMailboxSlot(ctx, k1, "sales@vendor.test", 1)
	require.NoError(t, err)
	require.True(t, slot.Granted)
	_, err = st.SendLockedSpaced(ctx, k1, d1.ContactID, "a@prospect.test", 0, store.Envelope{}, func(context.Context) store.SendOutcome {
		return store.SendOutcome{State: store.EmailFailed, Detail: "550 no such user"}
	})
	require.NoError(t, err)
	slot, err = st.ReserveMailboxSlot(ctx, k2, "sales@vendor.test", 1)
	require.NoError(t, err)
	require.True(t, slot.Granted, "a failed send does not use up the cap")
}

// Ten deals race to email one contact: one goes out, the other nine are deferred until a
// day after it, under the contact's lock.
func TestContactSpacingHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	ctx := context.Background()
	const n = 10
	const addr = "shared@prospect.test"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sentAt time.Time
	var deferred []store.SendOutcome
	sent := 0
	keys := make([]store.LedgerKey, n)
	ds := make([]store.Deal, n)
	for i := range n {
		ds[i] = newDealWith(t, st, fmt.Sprintf("space-%d", i), addr)
		keys[i] = claim(t, st, ds[i], addr)
	}
	require.Equal(t, ds[0].ContactID, ds[n-1].ContactID, "one contact, many deals")
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := st.SendLockedSpaced(ctx, keys[i], ds[i].ContactID, addr, 24*time.Hour, store.Envelope{}, func(context.Context) store.SendOutcome {
				mu.Lock()
				sent++
				sentAt = time.Now()
				mu.Unlock()
				return store.SendOutcome{State: store.EmailSent}
			})
			require.NoError(t, err)
			if out.State == store.EmailDeferred {
				mu.Lock()
				deferred = append(deferred, out)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, sent)
	require.Len(t, deferred, n-1)
	for _, out := range deferred {
		require.WithinDuration(t, sentAt.Add(24*time.Hour), out.NotBefore, 5*time.Second)
		require.Contains(t, out.Detail, "another deal emailed this contact")
	}
	// The same deal's own follow-up is not held back by its own earlier email.
	var own store.LedgerKey
	for i, k := range keys {
		entries, err := st.Ledger(ctx, ds[i].ID)
		require.NoError(t, err)
		if entries[0].State == store.EmailSent {
			own = store.LedgerKey{DealID: k.DealID, Visit: 1, StepID: "followup", Occurrence: 1}
			_, err := st.ClaimEmail(ctx, store.ClaimRequest{Key: own, ContactID: ds[i].ContactID, Address: addr, Template: "f", MessageID: "f@test", Lease: time.Hour})
			require.NoError(t, err)
			out, err := st.SendLockedSpaced(ctx, own, ds[i].ContactID, addr, 24*time.Hour, store.Envelope{}, func(context.Context) store.SendOutcome {
				return store.SendOutcome{State: store.EmailSent}
			})
			require.NoError(t, err)
			require.Equal(t, store.EmailSent, out.State)
		}
	}
	require.NotEmpty(t, own.DealID)
}
