package main

import (
	"fmt"
	"strings"

	"github.com/afsync/afsync/internal/config"
)

// withHint adds the fix to errors whose cause a user would not guess.
func withHint(err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "binary/encrypted") {
		return fmt.Errorf("%w\n(the worker encrypts payloads: set %s here to the worker's key)", err, config.EnvCodecKey)
	}
	return err
}
