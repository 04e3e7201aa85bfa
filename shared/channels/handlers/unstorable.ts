// A message the database refused for good (see isUnstorable): logged, and written to the
// tenant's audit log as alert.message_unstorable so its admins see that a customer's
// message was lost and why, instead of the sender retrying it forever.
import type { Api, ApiError } from '../../api/client.ts'
import type { Log } from '../../runtime/http.ts'

export async function reportUnstorable(
  rpc: Api,
  log: Log,
  connection: { connection_id: string; tenant_id: string },
  channel: string,
  externalId: string,
  error: ApiError,
): Promise<void> {
  log(`${channel}.message_unstorable`, {
    connection_id: connection.connection_id,
    external_id: externalId,
    code: error.code,
  })
  await rpc('record_audit', {
    tenant_id: connection.tenant_id,
    action: 'alert.message_unstorable',
    entity_type: 'channel',
    entity_id: connection.connection_id,
    details: { channel, external_id: externalId, code: error.code },
  })
}
