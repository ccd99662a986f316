package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// SeedOptions describes the people the sandbox starts with.
type SeedOptions struct {
	// Users is how many Award Force users to create.
	Users int
	// Seed makes the data reproducible; equal seeds give equal data.
	Seed uint64
	// ExistingRatio is the share of users already in Salesforce as Contacts
	// (default 0.3). Of those, about a third are identical, a third have stale
	// names or phones, and the rest differ only in email case or both.
	ExistingRatio float64
	// Duplicates is how many existing users have a second Contact with the
	// same email (ambiguous pairings). Default: 1% of Users.
	Duplicates int
	// NoEmail is how many users register with a mobile number only. Default: 2% of Users.
	NoEmail int
}

// SeedSummary counts what Seed created.
type SeedSummary struct {
	Users, NoEmail, Existing, Stale, CaseOnly, Duplicates int
}

// Profile fields every sandbox account has.
var profileFields = []afsim.Field{
	{Slug: "Employer", Type: "text", Label: "Organisation"},
	{Slug: "JobTitle", Type: "text", Label: "Job title"},
	{Slug: "SfRecord", Type: "text", Label: "Salesforce record ID"},
	{Slug: "Industry", Type: afsim.FieldTypeDropDown, Label: "Industry", Options: industries},
}

// industries are the options of the Industry drop-down.
var industries = []string{"Film & TV", "Research", "Design", "Non-profit", "Education"}

// industryOf is the n-th person's Industry: each option in turn, then none.
// It draws nothing from the seed's randomness, so the rest of the data stays
// what it was before the field existed.
func industryOf(n int) string {
	if i := n % (len(industries) + 1); i < len(industries) {
		return industries[i]
	}
	return ""
}

// Mobiles are E.164 and unique, as Award Force requires, each kind of person
// from its own range: seeded users by index (+44 77…), seeded users without
// email who drew no mobile (+61 4…), and burst registrants by their sequence
// (+44 78…).
func seededMobile(i int) string     { return fmt.Sprintf("+4477%08d", i) }
func noEmailMobile(i int) string    { return fmt.Sprintf("+614%08d", i) }
func registrantMobile(n int) string { return fmt.Sprintf("+4478%08d", n) }

var (
	firstNames = []string{"Amara", "Ben", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiroshi", "Isla", "Jonas",
		"Kemi", "Liam", "Maya", "Noah", "Olivia", "Pierre", "Quinn", "Rosa", "Sanjay", "Tara",
		"Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoë", "Aoife", "Mateus", "Siobhan", "Tomás"}
	lastNames = []string{"Adeyemi", "Bennett", "Castillo", "Dubois", "Eriksson", "Fitzgerald", "García", "Haddad",
		"Ivanova", "Jensen", "Kowalski", "Lefèvre", "Moreau", "Nakamura", "O'Brien", "Papadopoulos", "Quintero",
		"Rossi", "Schmidt", "Tanaka", "Umarov", "Van der Berg", "Walsh", "Xu", "Yamamoto", "Zhang", "Ní Bhriain",
		"d'Arcy", "MacLeod", "Øster"}
	domains       = []string{"example.org", "awards.example.com", "uni.example.edu", "studio.example.net", "charity.example.org"}
	organisations = []string{"Northwind Trust", "Blue Harbour Films", "Civic Lab", "Greenfield University", "Atelier Nord", ""}
	jobTitles     = []string{"Producer", "Research Fellow", "Director", "Designer", "Programme Manager", ""}
	roles         = []string{"Entrant", "Entrant", "Entrant", "Judge", "Program manager"}
)

// Seed fills the simulators: Users Award Force users, of whom a share
// already exist in Salesforce, some stale, some with a different email case,
// a few duplicated, and a few with no email at all.
func Seed(af *afsim.Server, sf *sfsim.Server, o SeedOptions) SeedSummary {
	for _, f := range profileFields {
		af.AddField(f)
	}
	if o.Users <= 0 {
		return SeedSummary{}
	}
	if o.ExistingRatio == 0 {
		o.ExistingRatio = 0.3
	}
	if o.Duplicates == 0 {
		o.Duplicates = o.Users / 100
	}
	if o.NoEmail == 0 {
		o.NoEmail = o.Users / 50
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	sum := SeedSummary{Users: o.Users}
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for i := 0; i < o.Users; i++ {
		first, last := pick(r, firstNames), pick(r, lastNames)
		u := afsim.User{
			Slug:         slugOf(r),
			FirstName:    first,
			LastName:     last,
			Email:        emailOf(first, last, i, r),
			Roles:        []string{pick(r, roles)},
			SeasonJoined: 2025 + r.IntN(2),
			Confirmed:    r.IntN(10) > 0,
			CreatedAt:    start.Add(time.Duration(i) * 7 * time.Minute),
			Fields:       map[string]string{},
		}
		if r.IntN(3) > 0 {
			// The draw once chose the number; it stays so that a seed gives the
			// data it always gave, but the index makes the mobile unique.
			_ = r.IntN(100000)
			u.Mobile = seededMobile(i)
		}
		if org := pick(r, organisations); org != "" {
			u.Fields["Employer"] = org
		}
		if job := pick(r, jobTitles); job != "" {
			u.Fields["JobTitle"] = job
		}
		if industry := industryOf(i); industry != "" {
			u.Fields["Industry"] = industry
		}
		if i < o.NoEmail {
			u.Email = ""
			if u.Mobile == "" {
				u.Mobile = noEmailMobile(i)
			}
			sum.NoEmail++
		}
		u.Updated = u.CreatedAt
		u = af.AddUser(u)
		if u.Email == "" || r.Float64() >= o.ExistingRatio {
			continue
		}
		sum.Existing++
		contact := map[string]any{"FirstName": u.FirstName, "LastName": u.LastName, "Email": u.Email}
		if u.Mobile != "" {
			contact["Phone"] = u.Mobile
		}
		switch r.IntN(6) {
		case 0, 1: // identical
		case 2, 3: // stale: an old surname, or an old phone
			sum.Stale++
			if r.IntN(2) == 0 {
				contact["LastName"] = pick(r, lastNames) + "-" + u.LastName
			} else {
				contact["Phone"] = fmt.Sprintf("+44 20 7946 %04d", r.IntN(10000))
			}
		case 4: // the CRM typed the email in capitals
			sum.CaseOnly++
			contact["Email"] = strings.ToUpper(u.Email)
		case 5: // both
			sum.Stale++
			sum.CaseOnly++
			contact["Email"] = strings.ToUpper(u.Email[:1]) + u.Email[1:]
			contact["FirstName"] = strings.ToUpper(u.FirstName)
		}
		contact["LeadSource"] = "Web"
		sf.Insert("Contact", contact)
		if sum.Duplicates < o.Duplicates {
			sum.Duplicates++
			sf.Insert("Contact", map[string]any{"FirstName": u.FirstName, "LastName": u.LastName, "Email": strings.ToLower(u.Email), "LeadSource": "Trade Show"})
		}
	}
	// People in the CRM who never registered in Award Force.
	for i := 0; i < o.Users/10; i++ {
		first, last := pick(r, firstNames), pick(r, lastNames)
		sf.Insert("Contact", map[string]any{"FirstName": first, "LastName": last, "Email": fmt.Sprintf("crm-only-%d@%s", i, pick(r, domains))})
	}
	return sum
}

// slugOf draws an Award Force slug (8 ASCII letters) from r, so that equal
// seeds give equal slugs across restarts.
func slugOf(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 8)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// emailOf makes a unique, plausible address; i keeps it unique.
func emailOf(first, last string, i int, r *rand.Rand) string {
	local := strings.ToLower(asciiOnly(first) + "." + asciiOnly(last))
	return fmt.Sprintf("%s.%d@%s", local, i, pick(r, domains))
}

func asciiOnly(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			b.WriteRune(c)
		case strings.ContainsRune("éè", c):
			b.WriteRune('e')
		case c == 'í':
			b.WriteRune('i')
		case c == 'á':
			b.WriteRune('a')
		case c == 'ë':
			b.WriteRune('e')
		case c == 'ö', c == 'Ø':
			b.WriteRune('o')
		}
	}
	return b.String()
}

// person draws a new registrant from the seed's pools; tag keeps the email
// unique, and n, the registrant's sequence in the sandbox, the mobile.
func person(r *rand.Rand, tag string, n int) afsim.User {
	first, last := pick(r, firstNames), pick(r, lastNames)
	u := afsim.User{
		FirstName: first,
		LastName:  last,
		Email:     fmt.Sprintf("%s.%s.%s@%s", strings.ToLower(asciiOnly(first)), strings.ToLower(asciiOnly(last)), tag, pick(r, domains)),
		Roles:     []string{pick(r, roles)},
		Confirmed: true,
		Fields:    map[string]string{},
	}
	if r.IntN(3) > 0 {
		_ = r.IntN(100000) // as in Seed: the names a burst seed gives stay the same
		u.Mobile = registrantMobile(n)
	}
	if org := pick(r, organisations); org != "" {
		u.Fields["Employer"] = org
	}
	if job := pick(r, jobTitles); job != "" {
		u.Fields["JobTitle"] = job
	}
	if industry := industryOf(n); industry != "" {
		u.Fields["Industry"] = industry
	}
	return u
}
