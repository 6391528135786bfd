/**
 * The README's configuration reference, rendered from the config's JSON
 * Schema (tokenrelay config schema): one row per field with its type,
 * default, range and meaning. A test checks the README carries exactly this
 * table, so the two cannot drift.
 */

interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: unknown;
}

/** The description without its trailing "Default ...; a to b." (those have their own columns). */
function meaning(schema: JsonSchema): string {
  return (schema.description ?? '')
    .replace(/\s*Default [^;]*; -?\d+ to \d+\.$/, '')
    .replace(/\s*Default (".*?"|[^ ]+)\.$/, '')
    .replace(/\|/g, '\\|');
}

function cell(value: unknown): string {
  return value === undefined ? '' : `\`${JSON.stringify(value)}\``;
}

function rows(prefix: string, schema: JsonSchema, out: string[]): void {
  const fields = Object.entries(schema.properties ?? {});
  // Fields that are all the same object (deadlines by method): one set of rows for <key>.
  const same = fields.length > 1 && fields.every(([, field]) => field.properties && JSON.stringify(field) === JSON.stringify(fields[0][1]));
  if (same) {
    rows(`${prefix}<${fields.map(([key]) => key).join(', ')}>.`, fields[0][1], out);
    return;
  }
  for (const [key, field] of fields) {
    const path = `${prefix}${key}`;
    if (field.properties) {
      rows(`${path}.`, field, out);
      continue;
    }
    if (field.items?.anyOf) {
      for (const option of field.items.anyOf) rows(`${path}[] (${String(option.properties?.backend?.const)}).`, option, out);
      continue;
    }
    const type = field.enum
      ? field.enum.map((value) => JSON.stringify(value)).join(' \\| ')
      : field.const !== undefined
        ? cell(field.const)
        : (field.type ?? 'object');
    const range = field.minimum !== undefined ? `${field.minimum} to ${field.maximum}` : '';
    out.push(`| \`${path}\` | ${type} | ${cell(field.default)} | ${range} | ${meaning(field)} |`);
  }
}

export function configTable(schema: object): string {
  const out = ['| key | type | default | range | meaning |', '| --- | --- | --- | --- | --- |'];
  rows('', schema as JsonSchema, out);
  return out.join('\n');
}
