// The OpenNebula template model: an ordered list of attributes, single or vector, names upper-cased.

// A vector attribute's sub-values, keyed by upper-cased name.
export type Vector = Readonly<Record<string, string>>;

export interface SingleAttribute {
  readonly name: string;
  readonly value: string;
}

export interface VectorAttribute {
  readonly name: string;
  readonly value: Vector;
}

export type Attribute = SingleAttribute | VectorAttribute;

// A template keeps every attribute in source order; repeated names are all kept (oned's multimap).
export interface Template {
  readonly attributes: readonly Attribute[];
}

// True when the attribute holds a vector (`NAME = [ ... ]`).
export function isVector(attribute: Attribute): attribute is VectorAttribute {
  return typeof attribute.value !== 'string';
}

// Builds a template from attributes (copied, so the caller's array may change later).
export function createTemplate(attributes: readonly Attribute[]): Template {
  return { attributes: [...attributes] };
}

// Creates an empty vector object with no prototype, so keys such as `CONSTRUCTOR` are plain data.
export function createVector(entries: Iterable<readonly [string, string]> = []): Record<string, string> {
  const vector = Object.create(null) as Record<string, string>;
  for (const [key, value] of entries) vector[key] = value;
  return vector;
}

// Returns the value of the first single attribute NAME, or undefined.
export function getSingle(template: Template, name: string): string | undefined {
  for (const attribute of template.attributes) {
    if (attribute.name === name && typeof attribute.value === 'string') return attribute.value;
  }
  return undefined;
}

// Returns every vector attribute NAME in order.
export function getVectors(template: Template, name: string): Vector[] {
  const vectors: Vector[] = [];
  for (const attribute of template.attributes) {
    if (attribute.name === name && typeof attribute.value !== 'string') vectors.push(attribute.value);
  }
  return vectors;
}

// Returns the first vector attribute NAME, or undefined.
export function getVector(template: Template, name: string): Vector | undefined {
  return getVectors(template, name)[0];
}

// Returns NAME/KEY from the first vector NAME, or undefined.
export function getVectorValue(template: Template, name: string, key: string): string | undefined {
  return getVector(template, name)?.[key];
}

// Keeps only the last attribute of each name, in the position of that last one (oned's replace mode).
export function toReplaceMode(template: Template): Template {
  const last = new Map<string, number>();
  template.attributes.forEach((attribute, index) => last.set(attribute.name, index));
  return { attributes: template.attributes.filter((attribute, index) => last.get(attribute.name) === index) };
}
