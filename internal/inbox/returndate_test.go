package inbox

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReturnDate(t *testing.T) {
	t.Parallel()
	dec7 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	dec20 := time.Date(2026, 12, 20, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		text   string
		anchor time.Time
		want   string
	}{
		// English back cues
		{"back on ISO", "I'll be back on 2026-12-15.", dec7, "2026-12-15"},
		{"back in the office on", "I will be back in the office on December 15th, 2026.", dec7, "2026-12-15"},
		{"return on weekday month day", "I return on Tuesday, Dec. 15", dec7, "2026-12-15"},
		{"returning", "Returning 15 December", dec7, "2026-12-15"},
		{"returning to the office on", "I am returning to the office on the 15th of December", dec7, "2026-12-15"},
		{"available again on", "available again on 12/15/2026", dec7, "2026-12-15"},
		// English until cues: the date is the last day away
		{"until", "Out of office until December 14", dec7, "2026-12-15"},
		{"till", "away till 14/12/2026", dec7, "2026-12-15"},
		{"through", "on leave through Monday, 14 December", dec7, "2026-12-15"},
		// German
		{"zurück am", "Ich bin am Montag, 14.12. zurück. Zurück am 15.12.2026", dec7, "2026-12-15"},
		{"wieder im Büro am", "Ich bin wieder im Büro am 15. Dezember 2026.", dec7, "2026-12-15"},
		{"ab … wieder", "Ab 15.12. bin ich wieder erreichbar.", dec7, "2026-12-15"},
		{"ab without wieder", "Ab 15.12. gelten neue Preise.", dec7, ""},
		{"wieder erreichbar ab", "Ich bin wieder erreichbar ab Dienstag, 15. Dez.", dec7, "2026-12-15"},
		{"bis", "Ich bin bis 14.12.2026 im Urlaub.", dec7, "2026-12-15"},
		{"bis zum", "Abwesend bis zum 14. Dezember", dec7, "2026-12-15"},
		{"bis einschließlich", "bis einschließlich 14.12.26 nicht erreichbar", dec7, "2026-12-15"},
		// French
		{"de retour le", "Je serai de retour le mardi 15 décembre.", dec7, "2026-12-15"},
		{"retour le", "Retour le 15/12/2026", dec7, "2026-12-15"},
		{"à partir du", "Joignable à partir du 15 déc. 2026", dec7, "2026-12-15"},
		{"jusqu'au straight apostrophe", "Absente jusqu'au 14 décembre", dec7, "2026-12-15"},
		{"jusqu’au curly apostrophe", "Absente jusqu’au lundi 14 décembre 2026", dec7, "2026-12-15"},
		{"1er janvier", "de retour le 1er janvier", dec7, "2027-01-01"},
		// Spanish
		{"de vuelta el", "Estaré de vuelta el 15 de diciembre de 2026.", dec7, "2026-12-15"},
		{"regreso el", "Regreso el martes 15 de diciembre", dec7, "2026-12-15"},
		{"volveré el", "Volveré el 15/12", dec7, "2026-12-15"},
		{"a partir del", "Disponible a partir del 15 dic", dec7, "2026-12-15"},
		{"hasta el", "Fuera de la oficina hasta el 14 de diciembre", dec7, "2026-12-15"},
		{"hasta", "De vacaciones hasta 2026-12-14", dec7, "2026-12-15"},
		// Years
		{"year rollover", "back on January 5", dec20, "2027-01-05"},
		{"until rolls over the year end", "out until December 31", dec20, "2027-01-01"},
		{"past date dropped", "back on December 1, 2026", dec7, ""},
		{"past until dropped", "out until 06.12.2026", dec7, ""},
		{"more than 366 days ahead dropped", "back on 2028-01-10", dec7, ""},
		{"two-digit year", "back on 15.12.26", dec7, "2026-12-15"},
		{"February 29 without a year is over a year away", "back on 29 February", dec7, ""},
		{"February 29 in a leap year", "back on 29 February", time.Date(2027, 12, 1, 0, 0, 0, 0, time.UTC), "2028-02-29"},
		// Not dates, not cues
		{"no cue", "See you on December 15.", dec7, ""},
		{"cue too far from date", "I will be back on my feet soon and we will certainly talk about that on 15 December", dec7, ""},
		{"not a calendar date", "back on 31.02.2027", dec7, ""},
		{"cue inside a word", "feedback on 15.12.2026", dec7, ""},
		{"empty", "", dec7, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, returnDate(tc.text, tc.anchor), tc.text)
		})
	}
}

// The slash rule: day first, unless the second number cannot be a month.
func TestReturnDateSlashOrder(t *testing.T) {
	t.Parallel()
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, "2026-03-04", returnDate("back on 04/03/2026", anchor))
	require.Equal(t, "2026-03-14", returnDate("back on 03/14/2026", anchor))
	require.Equal(t, "2026-12-13", returnDate("back on 13/12/2026", anchor))
}
