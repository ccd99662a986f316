package pairing

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// E164 returns phone in the E.164 form Award Force requires for mobile
// (+14155552671), reading a number written without a country code as one
// of region (an ISO 3166 code; empty accepts only numbers with a country
// code). It fails, with a reason fit for an audit, for text that is not a
// valid phone number.
func E164(phone, region string) (string, error) {
	v := strings.TrimSpace(phone)
	if v == "" {
		return "", nil
	}
	if strings.HasPrefix(v, "00") {
		v = "+" + v[2:] // the international prefix most of the world dials
	}
	if region == "" && !strings.HasPrefix(v, "+") {
		return "", fmt.Errorf("%q has no country code, and the spec sets no phone_region to read it in", phone)
	}
	n, err := phonenumbers.Parse(v, strings.ToUpper(region))
	if err != nil {
		return "", fmt.Errorf("%q is not a phone number", phone)
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("%q is not a valid phone number%s", phone, inRegion(region, v))
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

func inRegion(region, v string) string {
	if region == "" || strings.HasPrefix(v, "+") {
		return ""
	}
	return " in region " + region
}

// validRegion reports whether r is a region phone numbers are read in.
func validRegion(r string) bool {
	return r == strings.ToUpper(r) && phonenumbers.GetCountryCodeForRegion(r) != 0
}
