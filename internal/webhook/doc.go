// Package webhook receives Award Force webhooks and starts a user sync for the
// user they name. NewHandler returns the http.Handler; the worker mounts it at
// /webhooks/awardforce and implements Starter with its Temporal client.
//
// # Configuring Award Force
//
// In Award Force, open Settings → Integrations → Webhooks (or use the API's
// /webhook resource) and add a webhook with:
//
//   - URL: https://<worker>/webhooks/awardforce
//   - Method: post. Award Force also offers get, but the API reference does
//     not say how a GET carries the payload, so this handler answers GET with
//     405 (Allow: POST) rather than guess.
//   - Events: membership_registered and user_updated (role_granted may be
//     selected too; it is acknowledged and ignored).
//   - Signing key: a long random secret. Give the worker the same value in
//     AWARDFORCE_WEBHOOK_SIGNING_KEY. It is required: NewHandler refuses to
//     build a handler without it, because an unsigned endpoint would let anyone
//     start syncs.
//
// # Events
//
// The reference documents the event names in snake_case but its examples show
// labels such as "User created", so both forms are accepted, case-insensitively
// (spaces, hyphens and underscores are treated alike):
//
//	membership_registered, "Membership registered", "User created" → pairing.TriggerRegistration
//	user_updated, "User updated"                                   → pairing.TriggerProfileUpdate
//	role_granted and every other event                             → 200 {"status":"ignored"}
//
// The user's slug is read from the payload's user object (user.slug) or, failing
// that, from a top-level slug, and must match ^[A-Za-z]{8}$.
//
// # Responses
//
//	202 {"status":"accepted"}  the sync was started (or the running one told to sync again)
//	200 {"status":"ignored"}   the event does not start a sync
//	400 {"error":"…"}          malformed JSON, no event, or no valid user slug
//	401 {"error":"…"}          missing or wrong Signature header
//	405                        not a POST (Allow: POST)
//	413 {"error":"…"}          body larger than Options.MaxBodyBytes (default 1 MiB)
//	503 {"error":"…"}          the sync could not be started; Award Force may retry
//
// The Signature header is the lowercase hex HMAC-SHA256 of the raw body under the
// signing key, checked in constant time by awardforce.VerifySignature. Award
// Force documents no timestamp, so a captured request can be replayed; that only
// re-runs an idempotent sync of the same user.
//
// Logs carry the event and the slug only: never the body, emails or names.
package webhook
