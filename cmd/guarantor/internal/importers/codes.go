package importers

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// idRE is the rule every resource id follows.
var idRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidID reports whether id may be a resource id.
func ValidID(id string) bool { return idRE.MatchString(id) }

// ISO3 returns the ISO 3166-1 alpha-3 code of a country given by its alpha-3 code in any
// case ("ukr"), or false when the code names no country (CAMEO's regional codes such as
// "EUR" or "WST" do not).
func ISO3(code string) (string, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 3 {
		return "", false
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() || r.ISO3() != code {
		return "", false
	}
	return code, true
}

// ISO3FromNumeric returns the alpha-3 code of a country given by its ISO 3166-1 numeric
// code ("804", or "4" for "004"), as ACLED's `iso` column gives it.
func ISO3FromNumeric(num string) (string, bool) {
	num = strings.TrimSpace(num)
	if num == "" || len(num) > 3 || strings.Trim(num, "0123456789") != "" {
		return "", false
	}
	r, err := language.ParseRegion(fmt.Sprintf("%03s", num))
	if err != nil || !r.IsCountry() {
		return "", false
	}
	return r.ISO3(), true
}

// ISO3FromFIPS returns the alpha-3 code of a country given by its FIPS 10-4 code, as
// GDELT's geography columns give it ("UP" is Ukraine, "RS" Russia).
func ISO3FromFIPS(fips string) (string, bool) {
	iso2, ok := fipsToISO2[strings.ToUpper(strings.TrimSpace(fips))]
	if !ok {
		return "", false
	}
	if iso2 == "XK" {
		return "XKX", true // Kosovo: the user-assigned code in common use
	}
	r, err := language.ParseRegion(iso2)
	if err != nil {
		return "", false
	}
	return r.ISO3(), true
}

// CountryName returns the English short name of a country by alpha-3 code.
func CountryName(iso3 string) string {
	r, err := language.ParseRegion(iso3)
	if err != nil {
		return ""
	}
	return display.English.Regions().Name(r)
}

// fipsToISO2 maps FIPS 10-4 country codes to ISO 3166-1 alpha-2. Territories without an
// ISO code of their own (Akrotiri, the Spratly Islands...) are left out: their events get
// no country code rather than a wrong one.
var fipsToISO2 = map[string]string{
	"AA": "AW", "AC": "AG", "AE": "AE", "AF": "AF", "AG": "DZ", "AJ": "AZ", "AL": "AL", "AM": "AM",
	"AN": "AD", "AO": "AO", "AQ": "AS", "AR": "AR", "AS": "AU", "AU": "AT", "AV": "AI", "AY": "AQ",
	"BA": "BH", "BB": "BB", "BC": "BW", "BD": "BM", "BE": "BE", "BF": "BS", "BG": "BD", "BH": "BZ",
	"BK": "BA", "BL": "BO", "BM": "MM", "BN": "BJ", "BO": "BY", "BP": "SB", "BR": "BR", "BT": "BT",
	"BU": "BG", "BV": "BV", "BX": "BN", "BY": "BI", "CA": "CA", "CB": "KH", "CD": "TD", "CE": "LK",
	"CF": "CG", "CG": "CD", "CH": "CN", "CI": "CL", "CJ": "KY", "CK": "CC", "CM": "CM", "CN": "KM",
	"CO": "CO", "CQ": "MP", "CS": "CR", "CT": "CF", "CU": "CU", "CV": "CV", "CW": "CK", "CY": "CY",
	"DA": "DK", "DJ": "DJ", "DO": "DM", "DR": "DO", "EC": "EC", "EG": "EG", "EI": "IE", "EK": "GQ",
	"EN": "EE", "ER": "ER", "ES": "SV", "ET": "ET", "EZ": "CZ", "FG": "GF", "FI": "FI", "FJ": "FJ",
	"FK": "FK", "FM": "FM", "FO": "FO", "FP": "PF", "FR": "FR", "FS": "TF", "GA": "GM", "GB": "GA",
	"GG": "GE", "GH": "GH", "GI": "GI", "GJ": "GD", "GK": "GG", "GL": "GL", "GM": "DE", "GP": "GP",
	"GQ": "GU", "GR": "GR", "GT": "GT", "GV": "GN", "GY": "GY", "GZ": "PS", "HA": "HT", "HK": "HK",
	"HM": "HM", "HO": "HN", "HR": "HR", "HU": "HU", "IC": "IS", "ID": "ID", "IM": "IM", "IN": "IN",
	"IO": "IO", "IR": "IR", "IS": "IL", "IT": "IT", "IV": "CI", "IZ": "IQ", "JA": "JP", "JE": "JE",
	"JM": "JM", "JO": "JO", "KE": "KE", "KG": "KG", "KN": "KP", "KR": "KI", "KS": "KR", "KT": "CX",
	"KU": "KW", "KV": "XK", "KZ": "KZ", "LA": "LA", "LE": "LB", "LG": "LV", "LH": "LT", "LI": "LR",
	"LO": "SK", "LS": "LI", "LT": "LS", "LU": "LU", "LY": "LY", "MA": "MG", "MB": "MQ", "MC": "MO",
	"MD": "MD", "MF": "YT", "MG": "MN", "MH": "MS", "MI": "MW", "MJ": "ME", "MK": "MK", "ML": "ML",
	"MN": "MC", "MO": "MA", "MP": "MU", "MR": "MR", "MT": "MT", "MU": "OM", "MV": "MV", "MX": "MX",
	"MY": "MY", "MZ": "MZ", "NC": "NC", "NE": "NU", "NF": "NF", "NG": "NE", "NH": "VU", "NI": "NG",
	"NL": "NL", "NN": "SX", "NO": "NO", "NP": "NP", "NR": "NR", "NS": "SR", "NU": "NI", "NZ": "NZ",
	"OD": "SS", "PA": "PY", "PC": "PN", "PE": "PE", "PK": "PK", "PL": "PL", "PM": "PA", "PO": "PT",
	"PP": "PG", "PS": "PW", "PU": "GW", "QA": "QA", "RE": "RE", "RI": "RS", "RM": "MH", "RN": "MF",
	"RO": "RO", "RP": "PH", "RQ": "PR", "RS": "RU", "RW": "RW", "SA": "SA", "SB": "PM", "SC": "KN",
	"SE": "SC", "SF": "ZA", "SG": "SN", "SH": "SH", "SI": "SI", "SL": "SL", "SM": "SM", "SN": "SG",
	"SO": "SO", "SP": "ES", "ST": "LC", "SU": "SD", "SV": "SJ", "SW": "SE", "SX": "GS", "SY": "SY",
	"SZ": "CH", "TB": "BL", "TD": "TT", "TH": "TH", "TI": "TJ", "TK": "TC", "TL": "TK", "TN": "TO",
	"TO": "TG", "TP": "ST", "TS": "TN", "TT": "TL", "TU": "TR", "TV": "TV", "TW": "TW", "TX": "TM",
	"TZ": "TZ", "UC": "CW", "UG": "UG", "UK": "GB", "UP": "UA", "US": "US", "UV": "BF", "UY": "UY",
	"UZ": "UZ", "VC": "VC", "VE": "VE", "VI": "VG", "VM": "VN", "VQ": "VI", "VT": "VA", "WA": "NA",
	"WE": "PS", "WF": "WF", "WI": "EH", "WS": "WS", "WZ": "SZ", "YM": "YE", "ZA": "ZM", "ZI": "ZW",
}

// Slug makes a resource id from a prefix and a free-text name: lower-case letters and
// digits, other runs of characters as one hyphen. A name too long for an id, or one
// whose slug would lose too much (nothing left), gets a short hash of the full name so
// that two names never share an id by truncation.
func Slug(prefix, name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	s := strings.Trim(b.String(), "-")
	id := prefix + "-" + s
	if s == "" || len(id) > 63 || !sameLetters(name, s) {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		keep := min(len(s), 63-len(prefix)-1-9)
		base := strings.Trim(s[:keep], "-")
		id = fmt.Sprintf("%s-%s-%08x", prefix, base, h.Sum32())
		id = strings.ReplaceAll(id, "--", "-")
	}
	return id
}

// sameLetters reports whether the slug kept every letter and digit of the name (a name
// with accented letters loses them, and two names could then meet on one slug).
func sameLetters(name, slug string) bool {
	n := 0
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if r >= utf8.RuneSelf {
				return false
			}
			n++
		}
	}
	return n == len(strings.ReplaceAll(slug, "-", ""))
}

// SnakeCase makes a lower_snake_case term from a dataset's label ("Air/drone strike" ->
// "air_drone_strike"), at most 63 characters, starting with a letter; "" when nothing is
// left.
func SnakeCase(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if b.Len() == 0 && unicode.IsDigit(r) {
				b.WriteString("n")
			}
			b.WriteRune(r)
			under = false
			continue
		}
		if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	out := strings.Trim(b.String(), "_")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "_")
	}
	return out
}

// Truncate cuts s to at most n runes, marking a cut with an ellipsis, and reports whether
// it cut.
func Truncate(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	runes := []rune(s)
	return strings.TrimSpace(string(runes[:n-1])) + "…", true
}

// TitleCase turns an all-capitals dataset name ("UNITED KINGDOM") into "United Kingdom";
// mixed-case text is kept as it is.
func TitleCase(s string) string {
	if s != strings.ToUpper(s) {
		return s
	}
	words := strings.Fields(strings.ToLower(s))
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[size:]
	}
	return strings.Join(words, " ")
}

// CleanText makes a dataset's text fit a single-line field: invalid UTF-8 replaced,
// control characters and runs of white space as one space.
func CleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// CleanBlock is CleanText for multi-line fields: line breaks kept, other controls dropped.
func CleanBlock(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
}
