// The demo tenant's admin that supabase/seed.sql creates; `npm start` prints it.
export const DEMO_ADMIN = { email: 'admin@konstruct.local', password: 'konstruct-demo' }
