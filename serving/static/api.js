// The server: the API key (kept in sessionStorage: this tab only), the API calls, the schema.

const KEY = "asym-api-key";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

// POST a JSON body; resolves to {status, body, answeredAt} (answeredAt: when the answer was in,
// performance.now(), so the page can time its own rendering after the API answered).
export async function post(path, body, signal) {
  const headers = { "Content-Type": "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(path, {
    method: "POST", headers, body: JSON.stringify(body), signal,
  });
  const json = await response.json().catch(() => ({ detail: response.statusText }));
  return { status: response.status, body: json, answeredAt: performance.now() };
}

export async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// A schema of the OpenAPI document, with $refs resolved one level (and "anyOf [T, null]" made
// {...T, nullable: true}), so the form can read type, enum, minimum, maximum and description.
export function schemaOf(openapi, name) {
  const all = openapi.components.schemas;
  const resolve = (s) => {
    if (s.$ref) return resolve(all[s.$ref.split("/").pop()]);
    if (s.anyOf) {
      const other = s.anyOf.filter((t) => t.type !== "null");
      const nullable = other.length < s.anyOf.length;
      return { ...resolve(other[0]), ...dropAnyOf(s), nullable };
    }
    return s;
  };
  const dropAnyOf = ({ anyOf, ...rest }) => rest;
  const schema = all[name];
  const properties = {};
  for (const [field, s] of Object.entries(schema.properties)) properties[field] = resolve(s);
  return { ...schema, properties, required: schema.required || [] };
}

// A 422's detail as [{path, message}]: path is the field path without "body" (a.b[0].c).
export function fieldErrors(body) {
  if (!Array.isArray(body.detail)) return [{ path: "", message: String(body.detail) }];
  return body.detail.map((d) => ({
    path: d.field,
    message: d.allowed ? `${d.msg}. Allowed: ${d.allowed}.` : d.msg,
  }));
}
