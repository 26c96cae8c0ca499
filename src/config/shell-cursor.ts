// A position-tracking reader over shell text: 1-based line and column (in code points), backtracking marks.
import { ParseError } from '../util/errors.js';

// A saved reader position, used for error reports and to backtrack.
export interface CursorMark {
  readonly pos: number;
  readonly line: number;
  readonly column: number;
}

export class ShellCursor {
  readonly text: string;
  readonly file: string;
  private pos = 0;
  private line = 1;
  private column = 1;

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  // Returns the current position.
  mark(): CursorMark {
    return { pos: this.pos, line: this.line, column: this.column };
  }

  // Moves back to a position returned by mark().
  reset(mark: CursorMark): void {
    this.pos = mark.pos;
    this.line = mark.line;
    this.column = mark.column;
  }

  // Returns the text between a mark and the current position.
  since(mark: CursorMark): string {
    return this.text.slice(mark.pos, this.pos);
  }

  // Skips backslash-newline pairs: bash removes them before tokenizing, except inside single quotes and comments.
  skipContinuations(): void {
    while (this.text[this.pos] === '\\' && this.text[this.pos + 1] === '\n') {
      this.pos += 2;
      this.line += 1;
      this.column = 1;
    }
  }

  // Returns the next code point after skipping line continuations, or undefined at the end.
  peek(): string | undefined {
    this.skipContinuations();
    return this.peekRaw();
  }

  // Returns the next code point as written (continuations not skipped), or undefined at the end.
  peekRaw(): string | undefined {
    const code = this.text.codePointAt(this.pos);
    return code === undefined ? undefined : String.fromCodePoint(code);
  }

  // Consumes and returns the next code point as written, or undefined at the end.
  next(): string | undefined {
    const char = this.peekRaw();
    if (char === undefined) return undefined;
    this.pos += char.length;
    if (char === '\n') {
      this.line += 1;
      this.column = 1;
    } else {
      this.column += 1;
    }
    return char;
  }

  // Throws a ParseError at the given position (default: the current one).
  fail(reason: string, at: CursorMark = this.mark()): never {
    throw new ParseError({ file: this.file, line: at.line, column: at.column }, reason);
  }
}
