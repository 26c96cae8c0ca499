// Recursive-descent parser for OpenNebula's template syntax (reference §5.3), following oned's
// src/parsers/template_syntax.y. No npm package parses this format (peers.md §3.5).
//
//   template  := attribute*
//   attribute := NAME '=' ( value | empty | '[' ( entry ( ',' entry )* ','? )? ']' )
//   entry     := KEY '=' value
//
// Several attributes may share a line (`A = 1 B = 2`), as in oned: no separator is needed.
// One deliberate difference: a trailing comma before ']' is accepted. oned's grammar refuses it,
// but for the driver defaults file it only logs the error and keeps what it read so far, so a
// `NIC = [ MODEL = "virtio", ]` (a commented-out last line) never stops oned from deploying.
import type { Attribute, Template, Vector } from './model.js';
import { createVector } from './model.js';
import type { ParseError } from '../util/errors.js';
import type { Token } from './tokenize-template.js';
import { createParseError, describeToken, tokenizeTemplate } from './tokenize-template.js';

export interface ParseTemplateOptions {
  // Names the text in error messages, e.g. "vmm_exec_kvm.conf".
  readonly file: string;
}

interface Cursor {
  readonly next: () => Token;
  readonly fail: (token: Token, expected: string) => ParseError;
}

// Parses template text into its attributes in source order; throws ParseError (file, line, column).
export function parseTemplate(text: string, options: ParseTemplateOptions): Template {
  const cursor: Cursor = {
    next: tokenizeTemplate(text, options.file),
    fail: (token, expected) =>
      createParseError(text, options.file, token.start, `${expected}, found ${describeToken(text, token)}`),
  };
  const attributes: Attribute[] = [];
  for (let token = cursor.next(); token.kind !== 'eof'; token = cursor.next()) {
    attributes.push(parseAttribute(cursor, token));
  }
  return { attributes };
}

function parseAttribute(cursor: Cursor, first: Token): Attribute {
  if (first.kind !== 'name') throw cursor.fail(first, 'expected an attribute name');
  const name = first.value.toUpperCase();
  const equals = cursor.next();
  if (equals.kind !== 'equals') throw cursor.fail(equals, `expected '=' after ${name}`);
  const value = cursor.next();
  if (value.kind === 'value' || value.kind === 'empty') return { name, value: value.value };
  if (value.kind === 'open') return { name, value: parseVector(cursor, name) };
  throw cursor.fail(value, `expected a value or '[' after ${name} =`);
}

// Reads the entries of vector NAME after its '['. A repeated key keeps its first value, as oned's
// std::map insert does.
function parseVector(cursor: Cursor, name: string): Vector {
  const vector = createVector();
  let token = cursor.next();
  if (token.kind === 'close') return vector;
  for (;;) {
    if (token.kind !== 'name') throw cursor.fail(token, `expected a key or ']' in vector ${name}`);
    const key = token.value.toUpperCase();
    const equals = cursor.next();
    if (equals.kind !== 'equals') throw cursor.fail(equals, `expected '=' after ${key} in vector ${name}`);
    // oned has no empty form inside a vector (`[A=]` is a syntax error): it must be written A = "".
    const value = cursor.next();
    if (value.kind !== 'value') {
      throw cursor.fail(value, `expected a value for ${key} in vector ${name} (write ${key} = "" if empty)`);
    }
    if (!Object.hasOwn(vector, key)) vector[key] = value.value;
    token = cursor.next();
    if (token.kind === 'close') return vector;
    if (token.kind !== 'comma') throw cursor.fail(token, `expected ',' or ']' in vector ${name}`);
    token = cursor.next();
    if (token.kind === 'close') return vector;
  }
}
