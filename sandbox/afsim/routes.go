package afsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request, param string)

// routed is the outcome of matching a request against the simulated API's routes.
type routed struct {
	name    string      // stats key, e.g. "GET /user/{slug-or-email}"
	handler handlerFunc // nil when nothing matched
	param   string      // the unescaped {slug-or-email} segment
	write   bool        // needs a Read / Write key
	allow   []string    // methods the path supports, for 405
}

// route matches by hand rather than with http.ServeMux so that 404 and 405 come back
// in the API's JSON error shape and stats can be keyed before any check runs.
func route(r *http.Request) routed {
	path := r.URL.EscapedPath()
	switch {
	case path == "/user":
		switch r.Method {
		case http.MethodGet:
			return routed{name: "GET /user", handler: (*Server).listUsers}
		case http.MethodPost:
			return routed{name: "POST /user", handler: (*Server).createUser, write: true}
		}
		return routed{name: r.Method + " /user", allow: []string{"GET", "POST"}}
	case strings.HasPrefix(path, "/user/") && !strings.Contains(path[len("/user/"):], "/") && len(path) > len("/user/"):
		param, err := url.PathUnescape(path[len("/user/"):])
		if err != nil {
			break
		}
		switch r.Method {
		case http.MethodGet:
			return routed{name: "GET /user/{slug-or-email}", handler: (*Server).getUser, param: param}
		case http.MethodPut:
			return routed{name: "PUT /user/{slug}", handler: (*Server).updateUser, param: param, write: true}
		}
		return routed{name: r.Method + " /user/{slug}", allow: []string{"GET", "PUT"}}
	case path == "/field":
		if r.Method == http.MethodGet {
			return routed{name: "GET /field", handler: (*Server).listFields}
		}
		return routed{name: r.Method + " /field", allow: []string{"GET"}}
	}
	return routed{name: r.Method + " (no route)"}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client may have gone; nothing to do about it
}
