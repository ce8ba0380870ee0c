// Tool schemas every client can read. The SDK's zod → JSON Schema conversion writes a nullable field
// as `type: ["number", "null"]`; some model providers reject type arrays (the MCP Inspector's
// portability check warns about each). The same meaning as `anyOf` of single types is accepted
// everywhere, so tools/list rewrites them; values are unchanged (null stays valid).

type Schema = Record<string, unknown>;

/** A copy of `schema` with every `type: [a, b, …]` written as `anyOf: [{type: a}, {type: b}, …]`. */
export function withoutTypeArrays<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((item: unknown) => withoutTypeArrays(item)) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema as Schema)) out[key] = withoutTypeArrays(value);
  if (Array.isArray(out.type)) {
    const types = out.type as unknown[];
    delete out.type;
    if (types.length === 1) out.type = types[0];
    else {
      const alternatives = types.map((type) => ({ type }));
      // An anyOf already there must hold too: both as allOf.
      if (out.anyOf) {
        out.allOf = [...((out.allOf as unknown[]) ?? []), { anyOf: out.anyOf }, { anyOf: alternatives }];
        delete out.anyOf;
      } else out.anyOf = alternatives;
    }
  }
  return out as T;
}

/** Whether any `type` in the schema is an array (for tests and checks). */
export function hasTypeArray(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.some(hasTypeArray);
  if (schema === null || typeof schema !== 'object') return false;
  const node = schema as Schema;
  return Array.isArray(node.type) || Object.values(node).some(hasTypeArray);
}
