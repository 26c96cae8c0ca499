// Validates libvirt domain XML in-process against libvirt's own RelaxNG schema (domain.rng).
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Libxml2 from 'libxml2-wasm';
import { OnevmmError } from '../util/errors.js';

export type DomainValidation = { valid: true } | { valid: false; errors: string[] };

export interface DomainValidator {
  // Each error reads `line N: message`, as libxml2 reports it.
  validate(xml: string): DomainValidation;
  dispose(): void;
}

export interface DomainValidatorOptions {
  schemaDir?: string;
}

type Lib = typeof Libxml2;

const DEFAULT_SCHEMA_DIR = '/usr/share/libvirt/schemas';

// libxml2 keeps input providers in one small global table and can only remove all of them at
// once, so a single provider is registered per process; it opens only files below a schema
// directory that is being loaded right now (the `<include href=…>`s of domain.rng).
const loadingDirs = new Set<string>();
let providerRegistered = false;

// Loads <schemaDir>/domain.rng once; the returned validator checks any number of documents.
export async function createDomainValidator(options: DomainValidatorOptions = {}): Promise<DomainValidator> {
  const schemaDir = path.resolve(options.schemaDir ?? (process.env.ONEVMM_SCHEMA_DIR || DEFAULT_SCHEMA_DIR));
  const schemaFile = path.join(schemaDir, 'domain.rng');
  if (!existsSync(schemaFile)) {
    throw new OnevmmError(
      'VALIDATE',
      `libvirt schemas not found in ${schemaDir}; install libvirt0 or set ONEVMM_SCHEMA_DIR`,
    );
  }
  // Imported on demand: only `--validate` pays for ~1 MB of embedded wasm, and a CJS bundle can
  // keep this ESM-only, top-level-await package external.
  const lib = await import('libxml2-wasm');
  const schema = loadSchema(lib, schemaDir, schemaFile);
  let disposed = false;
  return {
    validate(xml) {
      if (disposed) throw new OnevmmError('VALIDATE', 'domain validator used after dispose()');
      let doc: Libxml2.XmlDocument;
      try {
        doc = lib.XmlDocument.fromString(xml);
      } catch (error) {
        return toInvalid(lib, error);
      }
      try {
        schema.validate(doc);
        return { valid: true };
      } catch (error) {
        return toInvalid(lib, error);
      } finally {
        doc.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      schema.dispose();
    },
  };
}

function loadSchema(lib: Lib, schemaDir: string, schemaFile: string): Libxml2.RelaxNGValidator {
  registerSchemaProvider(lib);
  loadingDirs.add(schemaDir);
  let rng: Libxml2.XmlDocument | undefined;
  try {
    // The url gives libxml2 a base against which the relative includes are resolved.
    rng = lib.XmlDocument.fromBuffer(readFileSync(schemaFile), { url: schemaFile });
    // The parser context works on a copy of `rng`, so it can be freed right after.
    return lib.RelaxNGValidator.fromDoc(rng);
  } catch (error) {
    throw new OnevmmError('VALIDATE', `cannot load ${schemaFile}: ${describe(error)}`, {
      cause: error,
    });
  } finally {
    rng?.dispose();
    loadingDirs.delete(schemaDir);
  }
}

function registerSchemaProvider(lib: Lib): void {
  if (providerRegistered) return;
  providerRegistered = lib.xmlRegisterInputProvider({
    match: (name) => isBeingLoaded(toPath(name)),
    open: (name) => {
      try {
        return openSync(toPath(name), 'r');
      } catch {
        return undefined;
      }
    },
    read: (fd, buf) => {
      try {
        return readSync(fd, buf, 0, buf.byteLength, null);
      } catch {
        return -1;
      }
    },
    close: (fd) => {
      try {
        closeSync(fd);
        return true;
      } catch {
        return false;
      }
    },
  });
  if (!providerRegistered) {
    throw new OnevmmError('VALIDATE', 'libxml2 input provider table is full');
  }
}

function toPath(name: string): string {
  return name.startsWith('file:') ? fileURLToPath(name) : path.resolve(name);
}

function isBeingLoaded(file: string): boolean {
  return [...loadingDirs].some((dir) => file.startsWith(dir + path.sep));
}

function toInvalid(lib: Lib, error: unknown): DomainValidation {
  if (!(error instanceof lib.XmlLibError)) {
    throw new OnevmmError('VALIDATE', `libxml2 failed: ${describe(error)}`, { cause: error });
  }
  const errors = error.details.map((d) => `line ${d.line}: ${d.message.trim()}`);
  return { valid: false, errors: errors.length > 0 ? errors : [error.message.trim()] };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.trim().replaceAll('\n', '; ') : String(error);
}
