/**
 * Why a document changed, as far as VS Code's API lets an extension tell. LSP's didChange carries
 * no reason; the extension sends `crowdcode/editReason` just before each didChange that has one.
 *
 * VS Code says only "undo" or "redo". The rest is inferred, and documented as such (docs/vscode.md):
 * - a change that leaves the document clean, not by undo/redo, and leaves it equal to the file on
 *   disk (or, where the file cannot be compared, replaces the whole text), is a reload from disk
 *   (revert, or a file changed by another program — `sed -i`, `git checkout` — while the editor had
 *   no unsaved changes; VS Code applies such a reload as the smallest line edits, not as one
 *   whole-text change). `isDirty` alone is not enough: it is still false during the first edit's
 *   event — Select All and a key replace the whole text of a clean document too — so the text is
 *   compared with the file (read only while the document is clean, so at most once per save);
 * - a change to a document that no visible editor shows is made by something else (an extension, an
 *   agent, a workspace-wide refactoring): source "external";
 * - in the active editor, a change entirely outside the visible ranges has an unknown source, and
 *   so has a change of several ranges none of which is at a cursor (another extension's
 *   `WorkspaceEdit`, an in-editor agent; not Find's Replace All, whose current match is
 *   selected). The server takes a workspace snapshot before each batch of such changes;
 * - one insertion equal to the clipboard (longer than one character) is a paste (not in a browser,
 *   where reading the clipboard asks the user);
 * - an insertion of three or more non-blank characters that is no paste comes from a completion
 *   (IntelliSense, inline suggestion, snippet), not from typing.
 */

import type { Position, Range } from "./forwarder";

export const UNDO = 1;
export const REDO = 2;

export interface ChangeFacts {
  /** `TextDocumentChangeEvent.reason`: 1 undo, 2 redo, undefined otherwise. */
  vscodeReason: number | undefined;
  isDirty: boolean;
  /** The only change replaced the whole text (its inserted text is the entire new document). */
  replacesWholeDocument: boolean;
  shownInVisibleEditor: boolean;
  inActiveEditor: boolean;
  /** The ranges the active editor shows, when the change is in it. */
  visibleRanges: Range[];
  changes: { range: Range; text: string }[];
  /** Clipboard text, read only when an insertion is longer than one character. */
  clipboard?: string;
  /** The cursors of the active editor, when the change is in it. */
  selections?: Range[];
  /** The text after the change equals the file on disk (checked only while the document is clean). */
  matchesDisk?: boolean;
}

export interface ChangeNote {
  reason?: "undo" | "redo" | "paste" | "completion" | "reload";
  source?: "external" | "unknown";
  detail?: string;
}

/** Whether reading the clipboard could change the classification (it costs a round trip). */
export function needsClipboard(changes: ChangeFacts["changes"]): boolean {
  return changes.length === 1 && [...changes[0].text].length > 1; // code points: one emoji is typing
}

export function classifyChange(facts: ChangeFacts): ChangeNote | undefined {
  if (facts.vscodeReason === UNDO) {
    return { reason: "undo" };
  }
  if (facts.vscodeReason === REDO) {
    return { reason: "redo" };
  }
  if (facts.changes.length === 0) {
    return undefined;
  }
  if (!facts.isDirty && (facts.matchesDisk === true || (facts.replacesWholeDocument && facts.matchesDisk === undefined))) {
    return { reason: "reload", detail: "the document matches the file on disk after the change" };
  }
  if (!facts.shownInVisibleEditor) {
    return { source: "external", detail: "changed while no visible editor showed it" };
  }
  if (facts.inActiveEditor && facts.visibleRanges.length > 0 && facts.changes.every((c) => !touches(c.range, facts.visibleRanges))) {
    return { source: "unknown", detail: "changed outside the visible ranges" };
  }
  const cursors = facts.selections ?? [];
  if (facts.changes.length > 1 && cursors.length > 0 && facts.changes.every((c) => !cursors.some((s) => overlaps(c.range, s)))) {
    return { source: "unknown", detail: "several ranges changed away from the cursors" };
  }
  if (facts.changes.length === 1) {
    const text = facts.changes[0].text;
    if (facts.clipboard !== undefined && needsClipboard(facts.changes) && text === facts.clipboard) {
      return { reason: "paste" };
    }
    if (text.trim().length >= 3) {
      return { reason: "completion" };
    }
  }
  return undefined;
}

/** Whether a change's range meets a cursor's (touching ends count: typing happens at the cursor). */
function overlaps(a: Range, b: Range): boolean {
  return !before(a.end, b.start) && !before(b.end, a.start);
}

function before(p: Position, q: Position): boolean {
  return p.line < q.line || (p.line === q.line && p.character < q.character);
}

function touches(range: Range, visible: Range[]): boolean {
  return visible.some((v) => range.start.line <= v.end.line && range.end.line >= v.start.line);
}
