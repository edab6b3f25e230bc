// Runs graphql-http's GraphQL-over-HTTP audit suite (serverAudits) against a served app.
// Usage: node audit.mjs URL   (bearer token in NTK_AUDIT_TOKEN). Prints one JSON array:
// [{id, name, status: "ok"|"warn"|"error", reason}], in the suite's order.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const token = process.env.NTK_AUDIT_TOKEN ?? '';
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({
    id: audit.id,
    name: audit.name,
    status: result.status,
    reason: result.status === 'ok' ? null : result.reason,
  });
}
console.log(JSON.stringify(results, null, 1));
