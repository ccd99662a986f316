package pairing

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The keys each level of the spec accepts, in the order the docs show them.
var (
	rootKeys       = []string{"options", "object", "unique_identifier", "external_id", "record_id_field", "fields", "crm_changes", "awardforce_deletions", "phone_region", "duplicate_rules", "account", "across_integrations"}
	optionKeys     = []string{"get_details_from_crm", "create_if_missing", "update_if_exists", "update_on_profile_change"}
	identifierKeys = []string{"awardforce", "crm"}
	externalIDKeys = []string{"crm"}
	pairKeys       = []string{"awardforce", "crm", "value", "direction", "overwrite", "prefer", "map", "map_default", "truncate"}
	crmChangesKeys = []string{"watch", "every", "on_delete"}
	afDeleteKeys   = []string{"stamp"}
	stampKeys      = []string{"crm", "value"}
	accountKeys    = []string{"awardforce", "match", "create"}
)

// decodeYAML walks the YAML node tree itself rather than using yaml.v3's
// KnownFields: that way every problem carries its full key path (which pair,
// which key) and line, unknown keys come with the valid ones and a near match,
// and all problems are collected instead of the decoder's first few.
func decodeYAML(data []byte, ps *problems) *Spec {
	s := &Spec{Options: defaultOptions()}
	ps.lines = map[string]int{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		ps.add("spec", "the YAML cannot be read: "+err.Error(), "correct the YAML syntax at the line given")
		return s
	}
	if len(doc.Content) == 0 {
		return s // empty document: validation reports what is missing
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return s
	}
	d := walker{ps: ps}
	keys := d.mapping(root, "", rootKeys)
	if keys == nil {
		return s
	}
	if n := keys["options"]; n != nil {
		o := d.mapping(n, "options", optionKeys)
		d.boolean(o["get_details_from_crm"], "options.get_details_from_crm", &s.Options.GetDetailsFromCRM)
		d.boolean(o["create_if_missing"], "options.create_if_missing", &s.Options.CreateIfMissing)
		d.boolean(o["update_if_exists"], "options.update_if_exists", &s.Options.UpdateIfExists)
		d.boolean(o["update_on_profile_change"], "options.update_on_profile_change", &s.Options.UpdateOnProfileChange)
	}
	s.Object = d.text(keys["object"], "object")
	if n := keys["unique_identifier"]; n != nil {
		m := d.mapping(n, "unique_identifier", identifierKeys)
		s.UniqueIdentifier.AwardForce = d.text(m["awardforce"], "unique_identifier.awardforce")
		s.UniqueIdentifier.CRM = d.text(m["crm"], "unique_identifier.crm")
	}
	if n := keys["external_id"]; n != nil {
		m := d.mapping(n, "external_id", externalIDKeys)
		s.ExternalID.CRM = d.text(m["crm"], "external_id.crm")
	}
	s.RecordIDField = d.text(keys["record_id_field"], "record_id_field")
	if n := keys["fields"]; n != nil && !isNull(deref(n)) {
		n = deref(n)
		if n.Kind != yaml.SequenceNode {
			ps.add("fields", "fields must be a list of pairs, found "+kindName(n),
				"write one pair a line, e.g. `- {awardforce: first_name, crm: FirstName}`")
			return s
		}
		for i, item := range n.Content {
			key := fmt.Sprintf("fields[%d]", i)
			ps.lines[key] = item.Line
			m := d.mapping(item, key, pairKeys)
			f := FieldPair{
				AwardForce: d.text(m["awardforce"], key+".awardforce"),
				CRM:        d.text(m["crm"], key+".crm"),
				Value:      d.text(m["value"], key+".value"),
				Direction:  Direction(d.text(m["direction"], key+".direction")),
				Overwrite:  Overwrite(d.text(m["overwrite"], key+".overwrite")),
				Prefer:     Side(d.text(m["prefer"], key+".prefer")),
				Map:        d.textMap(m["map"], key+".map"),
				MapDefault: d.text(m["map_default"], key+".map_default"),
			}
			d.boolean(m["truncate"], key+".truncate", &f.Truncate)
			s.Fields = append(s.Fields, f)
		}
	}
	if n := keys["crm_changes"]; n != nil {
		m := d.mapping(n, "crm_changes", crmChangesKeys)
		if w := m["watch"]; w != nil {
			var on bool
			d.boolean(w, "crm_changes.watch", &on)
			s.CRMChanges.Watch = &on
		}
		s.CRMChanges.Every = d.text(m["every"], "crm_changes.every")
		s.CRMChanges.OnDelete = DeletePolicy(d.text(m["on_delete"], "crm_changes.on_delete"))
	}
	if n := keys["awardforce_deletions"]; n != nil {
		m := d.mapping(n, "awardforce_deletions", afDeleteKeys)
		if st := m["stamp"]; st != nil {
			sm := d.mapping(st, "awardforce_deletions.stamp", stampKeys)
			s.AwardForceDeletions.Stamp = &StaticValue{
				CRM:   d.text(sm["crm"], "awardforce_deletions.stamp.crm"),
				Value: d.text(sm["value"], "awardforce_deletions.stamp.value"),
			}
		}
	}
	s.PhoneRegion = d.text(keys["phone_region"], "phone_region")
	s.DuplicateRules = DuplicatePolicy(d.text(keys["duplicate_rules"], "duplicate_rules"))
	s.AcrossIntegrations = AcrossIntegrations(d.text(keys["across_integrations"], "across_integrations"))
	if n := keys["account"]; n != nil {
		m := d.mapping(n, "account", accountKeys)
		s.Account = &AccountLink{
			AwardForce: d.text(m["awardforce"], "account.awardforce"),
			Match:      d.text(m["match"], "account.match"),
		}
		d.boolean(m["create"], "account.create", &s.Account.Create)
	}
	return s
}

type walker struct{ ps *problems }

// textMap decodes a mapping of text to text (nil when absent), reporting
// values that are not single texts.
func (w walker) textMap(n *yaml.Node, path string) map[string]string {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		w.ps.lines[path] = n.Line
		w.ps.add(path, fmt.Sprintf("%s must be a mapping of Award Force values to CRM values, found %s", path, kindName(n)),
			"write e.g. `map: {Judge: Reviewer, Entrant: Applicant}`")
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		key := fmt.Sprintf("%s[%q]", path, k.Value)
		w.ps.lines[key] = k.Line
		from := strings.TrimSpace(k.Value)
		if _, dup := out[from]; dup {
			w.ps.addAlways(key, fmt.Sprintf("%q appears twice in %s", from, path), "keep only one of them")
			continue
		}
		out[from] = w.text(v, key)
	}
	return out
}

// mapping returns the values of a mapping node by key, reporting unknown and
// repeated keys. A null node gives an empty map; a non-mapping node a problem and nil.
func (w walker) mapping(n *yaml.Node, path string, known []string) map[string]*yaml.Node {
	n = deref(n)
	out := map[string]*yaml.Node{}
	if isNull(n) {
		return out
	}
	if n.Kind != yaml.MappingNode {
		w.ps.add(orSpec(path), fmt.Sprintf("%s must be a mapping of keys, found %s", where(path), kindName(n)),
			fmt.Sprintf("write keys among %s under %s", strings.Join(known, ", "), where(path)))
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		key := join(path, name)
		w.ps.lines[key] = k.Line
		switch {
		case !contains(known, name):
			fix := fmt.Sprintf("valid keys %s are: %s", in(path), strings.Join(known, ", "))
			if near := nearest(name, known); near != "" {
				fix = fmt.Sprintf("did you mean %q? %s", near, fix)
			}
			w.ps.addAlways(key, fmt.Sprintf("unknown key %q %s", name, in(path)), fix)
		case out[name] != nil:
			w.ps.addAlways(key, fmt.Sprintf("key %q appears twice %s", name, in(path)), "keep only one of them")
		default:
			out[name] = v
		}
	}
	return out
}

// text returns a scalar's text ("" for an absent or null node), reporting a
// list or mapping where a single value belongs.
func (w walker) text(n *yaml.Node, path string) string {
	n = deref(n)
	if n == nil || isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		w.ps.lines[path] = n.Line
		w.ps.add(path, fmt.Sprintf("%s must be a single value, found %s", path, kindName(n)),
			"write one text value, e.g. `crm: Email`")
		return ""
	}
	return strings.TrimSpace(n.Value)
}

// boolean decodes a true/false scalar into dst, leaving dst (its default) when
// the key is absent.
func (w walker) boolean(n *yaml.Node, path string, dst *bool) {
	n = deref(n)
	if n == nil {
		return
	}
	fix := fmt.Sprintf("write `%s: true` or `%s: false`, or remove the key to keep the default (%t)",
		path[strings.LastIndex(path, ".")+1:], path[strings.LastIndex(path, ".")+1:], *dst)
	if isNull(n) {
		w.ps.add(path, path+" has no value", fix)
		return
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		w.ps.add(path, fmt.Sprintf("%s must be true or false, found %s", path, describeNode(n)), fix)
		return
	}
	*dst = b
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	default:
		return "something else"
	}
}

func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return kindName(n)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orSpec(path string) string {
	if path == "" {
		return "spec"
	}
	return path
}

func where(path string) string {
	if path == "" {
		return "the spec"
	}
	return path
}

func in(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
