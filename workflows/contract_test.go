package workflows

import "testing"

func TestCountsTallyEveryOutcome(t *testing.T) {
	var c Counts
	for i, o := range Outcomes {
		for range i + 1 {
			c.Count(o)
		}
	}
	c.Count("exploded") // unknown: seen, tallied nowhere
	for i, o := range Outcomes {
		if c.Of(o) != i+1 {
			t.Errorf("%s: %d, want %d", o, c.Of(o), i+1)
		}
	}
	if want := 1 + 2 + 3 + 4 + 5 + 6 + 1; c.Seen != want {
		t.Errorf("seen %d, want %d", c.Seen, want)
	}
	if c.Created != 1 || c.Failed != 6 || c.Of("exploded") != 0 {
		t.Errorf("counts %+v", c)
	}
}
