/**
 * Stage parameters written once: a TypeBox schema is both the JSON Schema the engine validates
 * (ajv fills each `default` before checking `required`) and, through Static<>, the type of
 * `ctx.params`. The helpers keep the published schemas (and the README reference made from
 * them) in the form they had: `enum` lists, `type: [T, 'null']`, object defaults spelt out.
 */
import { Type, type ObjectOptions, type SchemaOptions, type Static, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';

export { Type, type Static };

/** A kind's parameters: an object that rejects unknown keys. Give every property a default. */
export function Params<P extends TProperties>(properties: P): TObject<P> {
  return Type.Object(properties, { additionalProperties: false });
}

/** A nested group of parameters whose own default is made of its properties' defaults. */
export function Group<P extends TProperties>(properties: P, options: ObjectOptions = {}): TObject<P> {
  const defaults = Object.fromEntries(Object.entries(properties).map(([key, schema]) => {
    if (!('default' in schema)) throw new Error(`parameter group: ${key} has no default`);
    return [key, schema.default as unknown];
  }));
  return Type.Object(properties, { additionalProperties: false, ...options, default: defaults });
}

/** `{enum: [...]}`: one of the listed values (options may add `type`, `default`, `description`). */
export function Enum<const T extends readonly (string | number)[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ enum: values, ...options });
}

/** `type: [T, 'null']`: the schema's values or null. */
export function Nullable<S extends TSchema>(schema: S): TUnsafe<Static<S> | null> {
  const { type, ...rest }: SchemaOptions = schema;
  return Type.Unsafe<Static<S> | null>({ ...rest, type: [type, 'null'] });
}
