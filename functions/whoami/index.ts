// Who is calling, as a function sees it when it checks its callers itself (verify_jwt =
// false, Supabase's "Securing Edge Functions"): a user's access token verified against
// the project's JWKS, one of the project's secret keys, or its publishable key. Anything
// else, a token signed with the legacy JWT secret included, is an opaque 401.
import { bearerOf, isSecretKey, userVerifier } from '../../shared/api/callers.ts'
import { projectFromEnv } from '../../shared/api/project.ts'
import { json, unauthorized } from '../../shared/runtime/http.ts'

const project = projectFromEnv(Deno.env.toObject())
const verifyUser = userVerifier(project)

Deno.serve(async (req) => {
  const token = bearerOf(req)
  if (isSecretKey(project, token)) return json(200, { role: 'service_role', sub: null })
  if (token !== null && token === project.publishableKey) return json(200, { role: 'anon', sub: null })
  const user = await verifyUser(token)
  if (!user) return unauthorized()
  return json(200, { role: user.role, sub: user.sub, is_anonymous: user.is_anonymous === true })
})
