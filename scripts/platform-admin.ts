// npm run platform-admin -- grant|revoke <email>: makes a user a platform admin (the
// platform console at /platform) or takes the role away, through the api as the service
// role (api.grant_platform_admin / api.revoke_platform_admin). The user must have signed up.
//
//   SUPABASE_URL               your project (or the local stack: npm run env)
//   SUPABASE_SERVICE_ROLE_KEY  the service role (or secret) key
import { createClient } from '@supabase/supabase-js'

function required(name: string): string {
  const value = process.env[name]?.trim()
  if (!value) throw new Error(`${name} is not set`)
  return value
}

async function main(): Promise<void> {
  const [action, email] = process.argv.slice(2)
  if ((action !== 'grant' && action !== 'revoke') || !email) {
    console.error('usage: npm run platform-admin -- grant|revoke <email>')
    process.exitCode = 2
    return
  }
  const key = process.env.SUPABASE_SECRET_KEY?.trim() || required('SUPABASE_SERVICE_ROLE_KEY')
  const supabase = createClient(required('SUPABASE_URL'), key, {
    auth: { persistSession: false, autoRefreshToken: false },
    db: { schema: 'api' },
  })
  const { data, error } = await supabase.rpc(action === 'grant' ? 'grant_platform_admin' : 'revoke_platform_admin', {
    email,
  })
  if (error) {
    console.error(error.code === 'P0002' ? `No user has the email ${email}; they sign up first.` : error.message)
    process.exitCode = 1
    return
  }
  if (action === 'grant') console.log(`${email} is a platform admin (user ${String(data)}).`)
  else console.log(data ? `${email} is no longer a platform admin.` : `${email} was not a platform admin.`)
}

await main()
