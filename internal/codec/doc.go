// Package codec encrypts Temporal payloads with AES-256-GCM, so that the
// emails and names afsync's workflows carry reach the Temporal service, its
// histories and its Web UI only as ciphertext.
//
// # Turning it on
//
// Generate a key and give it to every process that talks to Temporal (the
// worker, the starter, the codec server); without it a worker cannot read the
// histories it wrote:
//
//	export AFSYNC_CODEC_KEY="$(openssl rand -base64 32)"
//	export AFSYNC_CODEC_KEY_ID=2025-06        # optional, "default" when unset
//
// then build the client with the codec's data converter:
//
//	c, err := codec.FromEnv(os.Getenv)
//	if err != nil { return err }
//	if c != nil { opts.DataConverter = c.DataConverter() }
//
// With AFSYNC_CODEC_KEY unset FromEnv returns (nil, nil) and payloads stay
// plaintext. Turning encryption on later is safe: Decode passes payloads it
// did not encrypt through unchanged, so histories written before still replay.
// Turning it off again is not: workers without the key cannot read the
// encrypted histories.
//
// # Rotating keys
//
// Make the new key active and keep the old one for decryption only:
//
//	export AFSYNC_CODEC_KEY="$(openssl rand -base64 32)"
//	export AFSYNC_CODEC_KEY_ID=2026-01
//	export AFSYNC_CODEC_OLD_KEYS="2025-06:<the previous AFSYNC_CODEC_KEY>"
//
// Each encrypted payload names its key id, so a key can be dropped from
// AFSYNC_CODEC_OLD_KEYS once no open workflow and no history inside the
// namespace's retention period still uses it.
//
// # Wire format
//
// Encode proto-marshals the whole payload (metadata included, so not even
// the encoding of the original leaks), seals it with a fresh random 96-bit
// nonce, and stores nonce‖ciphertext‖tag as the data of a new payload whose
// metadata is
//
//	encoding:          binary/encrypted
//	encryption-key-id: <id of the active key>
//
// # Codec server: reading payloads in the Web UI and the CLI
//
// The Temporal service never holds the key, so the Web UI and `temporal
// workflow show` need a codec server to display payloads. Serve [Handler]
// (POST /encode, POST /decode, also under a namespace prefix such as
// /default/decode) on an address the browser can reach:
//
//	http.ListenAndServe("localhost:8081", codec.Handler(c, codec.HandlerOptions{
//		AllowedOrigins: []string{"http://localhost:8233", "http://127.0.0.1:8233"},
//	}))
//
// and point the UI at it, either when starting the dev server,
//
//	temporal server start-dev --ui-codec-endpoint http://localhost:8081
//
// or in the Web UI itself: the "Codec Server" setting (per browser, or per
// namespace on Temporal Cloud) takes the endpoint URL. The browser calls the
// codec server directly, with the page's origin, so list the UI's exact
// origin(s) in AllowedOrigins. The CLI takes the same endpoint:
//
//	temporal workflow show -w <id> --codec-endpoint http://localhost:8081 \
//		--codec-auth "Bearer $TOKEN"
//
// HandlerOptions.Token makes the server demand "Authorization: Bearer
// <token>", which suits the CLI and scripts. The Web UI cannot send a fixed
// token: with "Pass the user access token" on it sends the signed-in user's
// own access token instead, so when the UI must reach a protected codec
// server, put it behind a proxy that validates those tokens rather than
// setting Token.
package codec
