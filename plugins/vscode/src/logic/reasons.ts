/**
 * Why a document changed, as far as VS Code's API lets an extension tell. LSP's didChange carries
 * no reason; the extension sends `crowdcode/editReason` just before each didChange that has one.
 *
 * VS Code says only "undo" or "redo". The rest is inferred, and documented as such (docs/vscode.md):
 * - a change that replaces the whole text and leaves the document clean, not by undo/redo, is a
 *   reload from disk (revert, or a file changed by another program while the editor had no unsaved
 *   changes). `isDirty` alone is not enough: it is still false during the first edit's event;
 * - a change to a document that no visible editor shows is made by something else (an extension, an
 *   agent, a workspace-wide refactoring): source "external";
 * - in the active editor, a change entirely outside the visible ranges has an unknown source;
 * - one insertion equal to the clipboard (longer than one character) is a paste (not in a browser,
 *   where reading the clipboard asks the user);
 * - an insertion of three or more non-blank characters that is no paste comes from a completion
 *   (IntelliSense, inline suggestion, snippet), not from typing.
 */

import type { Range } from "./forwarder";

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
  if (!facts.isDirty && facts.replacesWholeDocument) {
    return { reason: "reload", detail: "the document matches the file on disk after the change" };
  }
  if (!facts.shownInVisibleEditor) {
    return { source: "external", detail: "changed while no visible editor showed it" };
  }
  if (facts.inActiveEditor && facts.visibleRanges.length > 0 && facts.changes.every((c) => !touches(c.range, facts.visibleRanges))) {
    return { source: "unknown", detail: "changed outside the visible ranges" };
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

function touches(range: Range, visible: Range[]): boolean {
  return visible.some((v) => range.start.line <= v.end.line && range.end.line >= v.start.line);
}
