-- Membership rules: the last owner, what admins may not do, and invitations
-- (hash-only storage, single use, 48-hour expiry, resend and revoke, email match).
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(24);

-- The last owner ---------------------------------------------------------------------
select tests.become('owner');
select throws_ok(tests.fill($$select api.leave_tenant('{tenant}')$$), 'KO001', null,
  'the last owner cannot leave');
select throws_ok(tests.fill($$select api.change_member_role('{tenant}', '{owner}', 'admin')$$), 'KO001', null,
  'the last owner cannot be demoted');
select lives_ok(tests.fill($$select api.change_member_role('{tenant}', '{admin}', 'owner')$$),
  'an owner can make another member owner');
select lives_ok(tests.fill($$select api.change_member_role('{tenant}', '{owner}', 'operator')$$),
  'with a second owner, the first can step down');
reset role;
select is((select role from app.memberships where tenant_id = tests.get('tenant')::uuid and user_id = tests.uid('owner')),
  'operator', 'the former owner is now an operator');
select tests.become('admin');
select throws_ok(tests.fill($$select api.leave_tenant('{tenant}')$$), 'KO001', null,
  'the new sole owner cannot leave either');
reset role;
select throws_ok(tests.fill($$delete from app.memberships where tenant_id = '{tenant}' and user_id = '{admin}'$$), 'KO001', null,
  'the database refuses to delete the last owner even to its owner role');

-- Admins and owners ---------------------------------------------------------------------
select tests.become('stranger');
select lives_ok(tests.fill($$select api.change_member_role('{tenant_b}', '{stranger}', 'owner')$$), 'an owner may re-assert its own role');
reset role;
insert into app.memberships (tenant_id, user_id, role) values (tests.get('tenant_b')::uuid, tests.uid('member2'), 'admin');
select tests.become('member2');
select throws_ok(tests.fill($$select api.change_member_role('{tenant_b}', '{stranger}', 'admin')$$), '42501', null,
  'an admin cannot demote an owner');
select throws_ok(tests.fill($$select api.change_member_role('{tenant_b}', '{member2}', 'owner')$$), '42501', null,
  'an admin cannot make itself owner');
select throws_ok(tests.fill($$select api.remove_member('{tenant_b}', '{stranger}')$$), '42501', null,
  'an admin cannot remove an owner');
select throws_ok(tests.fill($$select api.create_invitation('{tenant_b}', 'boss@example.test', 'owner')$$), '42501', null,
  'an admin cannot invite an owner');
reset role;

-- Invitations ----------------------------------------------------------------------------
select is((select count(*)::integer from app.invitations
           where token_hash = extensions.digest(convert_to(tests.get('invite_token'), 'UTF8'), 'sha256')),
  1, 'only the sha256 of the invitation token is stored');
select is((select count(*)::integer from app.invitations i
           where position(convert_to(tests.get('invite_token'), 'UTF8') in i.token_hash) > 0), 0,
  'the raw token appears nowhere in the row');
select tests.become('invitee');
select is(tests.fill('{tenant}')::uuid, (api.accept_invitation(tests.get('invite_token')) ->> 'tenant_id')::uuid,
  'the invited email accepts and joins the tenant');
select is((select role from api.list_my_tenants() where id = tests.get('tenant')::uuid), 'operator',
  'with the invited role');
select throws_ok(tests.fill($$select api.accept_invitation('{invite_token}')$$), 'KO003', null,
  'an invitation is single use');
select throws_ok($$select api.accept_invitation('inv_not_a_real_token')$$, 'P0002', null,
  'an unknown token is not found');
reset role;

select 1 from tests.create_user('late');
select tests.claims('stranger');
insert into tests.fx select 'late', api.create_invitation(tests.get('tenant_b')::uuid, 'late@tests.konstruct.local', 'admin')::text;
update app.invitations set expires_at = now() - interval '1 minute' where id = (tests.get('late')::jsonb ->> 'id')::uuid;
select tests.become('late');
select throws_ok(format('select api.accept_invitation(%L)', tests.get('late')::jsonb ->> 'token'), 'KO002', null,
  'an invitation expires after 48 hours');
reset role;

select tests.claims('stranger');
insert into tests.fx select 'resent', api.resend_invitation((tests.get('late')::jsonb ->> 'id')::uuid)::text;
select tests.become('late');
select throws_ok(format('select api.accept_invitation(%L)', tests.get('late')::jsonb ->> 'token'), 'P0002', null,
  'resending replaces the old token');
select lives_ok(format('select api.accept_invitation(%L)', tests.get('resent')::jsonb ->> 'token'),
  'the resent token works for another 48 hours');
reset role;

select tests.claims('stranger');
insert into tests.fx select 'revoked', api.create_invitation(tests.get('tenant_b')::uuid, 'invitee@tests.konstruct.local', 'operator')::text;
select api.revoke_invitation((tests.get('revoked')::jsonb ->> 'id')::uuid);
select tests.become('invitee');
select throws_ok(format('select api.accept_invitation(%L)', tests.get('revoked')::jsonb ->> 'token'), 'KO003', null,
  'a revoked invitation cannot be accepted');
reset role;

-- Audit of membership changes ----------------------------------------------------------------
select ok(exists (select 1 from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'membership.updated'
                  and entity_id = tests.get('owner')),
  'role changes are audited');
select ok(exists (select 1 from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'membership.created'
                  and entity_id = tests.uid('invitee')::text and actor_user_id = tests.uid('invitee')),
  'joining by invitation is audited with the joiner as actor');

select * from finish();
rollback;
