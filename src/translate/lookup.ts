// Attribute lookups with oned's precedence: the VM template first, then the driver defaults
// (reference §5.1). Vector lookups fall through per sub-key; typed reads skip empty or
// unparsable values; booleans are true only for YES.
import type { Template, Vector } from '../template/model.js';

// One pass over a template: first single value and every vector of each name.
class TemplateIndex {
  readonly singles = new Map<string, string>();
  readonly vectors = new Map<string, Vector[]>();

  constructor(template: Template) {
    for (const { name, value } of template.attributes) {
      if (typeof value === 'string') {
        if (!this.singles.has(name)) this.singles.set(name, value);
      } else {
        const list = this.vectors.get(name);
        if (list === undefined) this.vectors.set(name, [value]);
        else list.push(value);
      }
    }
  }
}

const NO_VECTORS: readonly Vector[] = [];

export class Lookup {
  private readonly vmIndex: TemplateIndex;
  private readonly defaultsIndex: TemplateIndex;

  constructor(vm: Template, defaults: Template) {
    this.vmIndex = new TemplateIndex(vm);
    this.defaultsIndex = new TemplateIndex(defaults);
  }

  // Every vector NAME of the VM, in template order.
  vmVectors(name: string): readonly Vector[] {
    return this.vmIndex.vectors.get(name) ?? NO_VECTORS;
  }

  // The VM's first vector NAME.
  vmVector(name: string): Vector | undefined {
    return this.vmIndex.vectors.get(name)?.[0];
  }

  // The VM's single attribute NAME (no defaults).
  vmSingle(name: string): string | undefined {
    return this.vmIndex.singles.get(name);
  }

  // A single attribute: the VM's value (empty accepted once the key exists), else the default.
  single(name: string): string | undefined {
    return this.vmIndex.singles.get(name) ?? this.defaultsIndex.singles.get(name);
  }

  // A single attribute read from the defaults only (attributes a VM may not override).
  defaultSingle(name: string): string | undefined {
    return this.defaultsIndex.singles.get(name);
  }

  // NAME/KEY from the VM's first NAME vector, else from the defaults' NAME vector.
  vector(name: string, key: string): string | undefined {
    return this.vmVector(name)?.[key] ?? this.defaultVector(name, key);
  }

  // NAME/KEY from the defaults only.
  defaultVector(name: string, key: string): string | undefined {
    return this.defaultsIndex.vectors.get(name)?.[0]?.[key];
  }

  int(name: string): number | undefined {
    return firstInt([this.vmIndex.singles.get(name), this.defaultsIndex.singles.get(name)]);
  }

  vectorInt(name: string, key: string): number | undefined {
    return firstInt([this.vmVector(name)?.[key], this.defaultVector(name, key)]);
  }

  vectorBool(name: string, key: string): boolean {
    return isYes(firstNonEmpty([this.vmVector(name)?.[key], this.defaultVector(name, key)]));
  }
}

function firstNonEmpty(values: readonly (string | undefined)[]): string | undefined {
  return values.find((value) => value !== undefined && value.trim() !== '');
}

function firstInt(values: readonly (string | undefined)[]): number | undefined {
  for (const value of values) {
    const parsed = parseInteger(value);
    if (parsed !== undefined) return parsed;
  }
  return undefined;
}

// Parses a whole decimal integer (surrounding blanks allowed); anything else is undefined.
export function parseInteger(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*[-+]?\d+\s*$/.test(value)) return undefined;
  const parsed = Number.parseInt(value, 10);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

// Parses a decimal number such as CPU=0.5; anything else is undefined.
export function parseDecimal(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/.test(value)) return undefined;
  return Number.parseFloat(value);
}

// OpenNebula booleans: true only for YES, in any case.
export function isYes(value: string | undefined): boolean {
  return value !== undefined && value.trim().toUpperCase() === 'YES';
}

// A non-empty trimmed value, or undefined.
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
