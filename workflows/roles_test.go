package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/afsync/afsync/activities"
)

// rolesOrg answers RolesPage from pages of roles, counting the calls.
type rolesOrg struct {
	pages [][]activities.Role
	calls []activities.RolesPageInput
}

func (o *rolesOrg) page(_ context.Context, in activities.RolesPageInput) (activities.RolesPage, error) {
	o.calls = append(o.calls, in)
	if in.Role != "" {
		for _, p := range o.pages {
			for _, r := range p {
				if r.Slug == in.Role {
					return activities.RolesPage{Roles: []activities.Role{r}}, nil
				}
			}
		}
		return activities.RolesPage{}, nil
	}
	return activities.RolesPage{Roles: o.pages[in.Page-1], More: in.Page < len(o.pages)}, nil
}

func resolveRole(t *testing.T, org *rolesOrg, value string) (RoleMatch, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ResolveRole)
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&Coordinator{})
	grantPermits(env)
	env.OnActivity(af.RolesPage, mock.Anything, mock.Anything).Return(org.page)
	env.ExecuteWorkflow(ResolveRole, value)
	require.True(t, env.IsWorkflowCompleted())
	var m RoleMatch
	if err := env.GetWorkflowError(); err != nil {
		return m, err
	}
	require.NoError(t, env.GetWorkflowResult(&m))
	return m, nil
}

func TestResolveRole(t *testing.T) {
	judge := activities.Role{Slug: "JudgeAAA", Name: "Judge"}
	entrant := activities.Role{Slug: "EntrantA", Name: "Entrant"}
	reviewer := activities.Role{Slug: "RevSlugA", Name: "Reviewer"}
	chair := activities.Role{Slug: "ChairAAA", Name: "Chair"}
	chair2 := activities.Role{Slug: "ChairBBB", Name: "chair"}
	org := func() *rolesOrg {
		return &rolesOrg{pages: [][]activities.Role{{entrant}, {entrant, judge}, {reviewer, chair, chair2}}}
	}

	// A slug: one request, with the role filter.
	o := org()
	m, err := resolveRole(t, o, "JudgeAAA")
	require.NoError(t, err)
	require.Equal(t, judge, m.Role)
	require.Len(t, o.calls, 1)
	require.Equal(t, "JudgeAAA", o.calls[0].Role)

	// A name, whatever its case: every page, to be sure no other role has it.
	o = org()
	m, err = resolveRole(t, o, " judge ")
	require.NoError(t, err)
	require.Equal(t, judge, m.Role)
	require.Equal(t, 3, m.Pages)
	require.Len(t, o.calls, 3)

	// A name of 8 letters that is no role's slug: asked as a slug, then read.
	o = org()
	m, err = resolveRole(t, o, "Reviewer")
	require.NoError(t, err)
	require.Equal(t, reviewer, m.Role)
	require.Len(t, o.calls, 4)

	// Two roles of one name: the slugs to choose from.
	_, err = resolveRole(t, org(), "Chair")
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, ErrTypeRoleAmbiguous, appErr.Type())
	require.Contains(t, appErr.Message(), "ChairAAA, ChairBBB")

	// None: every role there is.
	_, err = resolveRole(t, org(), "Jury")
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, ErrTypeRoleUnknown, appErr.Type())
	require.Contains(t, appErr.Message(), "Entrant (EntrantA), Judge (JudgeAAA)")
}
