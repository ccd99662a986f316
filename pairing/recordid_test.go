package pairing

import "testing"

func TestCheckCRMIgnoresAwardForceFieldsButNotCRMFields(t *testing.T) {
	s := Default()
	s.Fields = append(s.Fields, FieldPair{AwardForce: "organisation", CRM: "Department"})
	if err := s.CheckCRM(contactDescribe()); err != nil {
		t.Fatalf("CheckCRM must not judge Award Force slugs: %v", err)
	}
	if err := s.Check(contactDescribe(), nil); err == nil {
		t.Fatal("Check must report the unknown profile field slug")
	}
	s.Fields = append(s.Fields, FieldPair{AwardForce: "last_name", CRM: "Surname"})
	if err := s.CheckCRM(contactDescribe()); err == nil {
		t.Fatal("CheckCRM must report a CRM field the describe lacks")
	}
}

func TestRecordIDChange(t *testing.T) {
	s := Default()
	p := Profile{Slug: "AbCdEfGh", Values: map[string]string{"salesforceId": "003A"}}
	if c := s.RecordIDChange(p, "003B"); c != nil {
		t.Fatalf("no record_id_field: want nil, got %+v", c)
	}
	s.RecordIDField = "salesforceId"
	if c := s.RecordIDChange(p, "003A"); c != nil {
		t.Fatalf("same id: want nil, got %+v", c)
	}
	c := s.RecordIDChange(p, "003B")
	want := Change{Field: "salesforceId", Source: SourceRecordID, Before: "003A", After: "003B"}
	if c == nil || *c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c := s.RecordIDChange(p, ""); c != nil {
		t.Fatalf("empty id: want nil, got %+v", c)
	}
}
