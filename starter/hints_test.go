package main

import (
	"errors"
	"strings"
	"testing"
)

func TestWithHint(t *testing.T) {
	err := withHint(errors.New("unable to decode: payload encoding is not supported: binary/encrypted"))
	if !strings.Contains(err.Error(), "AFSYNC_CODEC_KEY") {
		t.Fatalf("no hint: %v", err)
	}
	plain := errors.New("connection refused")
	if withHint(plain) != plain {
		t.Fatal("other errors must pass unchanged")
	}
	if withHint(nil) != nil {
		t.Fatal("nil stays nil")
	}
}
