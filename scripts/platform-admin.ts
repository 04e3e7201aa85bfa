// npm run platform-admin -- grant|revoke <email>: makes a user a platform admin (the
// platform console at /platform) or takes the role away, through the api with a secret
// key (api.grant_platform_admin / api.revoke_platform_admin). The user must have signed up.
//
//   SUPABASE_URL          your project (or the local stack: npm run env)
//   SUPABASE_SECRET_KEY   a secret key (sb_secret_…)
import { ApiError } from '../shared/api/client.ts'
import { projectFromEnv, serviceApi } from '../shared/api/project.ts'

async function main(): Promise<void> {
  const [action, email] = process.argv.slice(2)
  if ((action !== 'grant' && action !== 'revoke') || !email) {
    console.error('usage: npm run platform-admin -- grant|revoke <email>')
    process.exitCode = 2
    return
  }
  const api = serviceApi(projectFromEnv(process.env))
  try {
    const result = await api(action === 'grant' ? 'grant_platform_admin' : 'revoke_platform_admin', { email })
    if (action === 'grant') console.log(`${email} is a platform admin (user ${String(result)}).`)
    else console.log(result ? `${email} is no longer a platform admin.` : `${email} was not a platform admin.`)
  } catch (error) {
    if (!(error instanceof ApiError)) throw error
    console.error(error.code === 'P0002' ? `No user has the email ${email}; they sign up first.` : error.message)
    process.exitCode = 1
  }
}

await main()
