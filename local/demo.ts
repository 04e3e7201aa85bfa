// The demo tenant's admin that supabase/seed.sql creates; `npm start` prints it.
export const DEMO_ADMIN = { email: 'admin@konstruct.local', password: 'konstruct-demo' }
// The demo platform admin (no tenant; the platform console at /platform), also from seed.sql.
export const DEMO_PLATFORM_ADMIN = { email: 'platform@konstruct.local', password: 'konstruct-platform' }
