/**
 * What the extension adds to LSP, as `crowdcode/*` notifications (docs/lsp.md): selections,
 * visible ranges, the active editor, window focus, terminals. Plain TypeScript with no `vscode`
 * import, so that Node's test runner can check it.
 */

import { Throttle, Timers, realTimers } from "./throttle";

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface SelectionInfo {
  anchor: Position;
  active: Position;
}

export type Send = (method: string, params: object) => void;

/** Largest chunk of terminal output sent at once; the rest waits for the next interval. */
export const MAX_OUTPUT_CHUNK = 64 * 1024;

export interface ForwarderOptions {
  throttleMs: number;
  outputMs: number;
}

export class Forwarder {
  private readonly selections: Throttle<object>;
  private readonly visible: Throttle<object>;
  private readonly output: Throttle<string>;
  private readonly outputBuffers = new Map<string, string>();
  private activeUri: string | null | undefined = undefined;

  constructor(
    private readonly send: Send,
    options: ForwarderOptions = { throttleMs: 100, outputMs: 200 },
    timers: Timers = realTimers,
  ) {
    this.selections = new Throttle(options.throttleMs, (_uri, params) => this.send("crowdcode/selection", params), timers);
    this.visible = new Throttle(options.throttleMs, (_uri, params) => this.send("crowdcode/visibleRanges", params), timers);
    this.output = new Throttle(options.outputMs, (id) => this.sendOutput(id), timers);
  }

  selection(uri: string, selections: SelectionInfo[], mode?: "char" | "line" | "block"): void {
    if (selections.length === 0) {
      return;
    }
    this.selections.push(uri, mode ? { uri, selections, mode } : { uri, selections });
  }

  visibleRanges(uri: string, ranges: Range[]): void {
    if (ranges.length === 0) {
      return;
    }
    this.visible.push(uri, { uri, ranges });
  }

  /** The focused editor changed; `null` when focus left the editors. Sent at once, after what is
   * pending for the previous one. */
  activeEditor(uri: string | null): void {
    if (uri === this.activeUri) {
      return;
    }
    this.activeUri = uri;
    this.selections.flush();
    this.visible.flush();
    this.send("crowdcode/activeEditor", { uri });
  }

  focus(focused: boolean): void {
    this.send("crowdcode/focus", { focused });
  }

  terminalFocus(terminalId: string, name: string): void {
    this.send("crowdcode/terminalFocus", { terminalId, name });
  }

  terminalCommand(terminalId: string, name: string, command: string, cwd?: string): void {
    this.output.flush();
    this.send("crowdcode/terminalCommand", cwd ? { terminalId, name, command, cwd } : { terminalId, name, command });
  }

  /** Output is gathered per terminal and sent at most once per interval. */
  terminalOutput(terminalId: string, data: string): void {
    this.outputBuffers.set(terminalId, (this.outputBuffers.get(terminalId) ?? "") + data);
    this.output.push(terminalId, terminalId);
  }

  terminalCommandEnd(terminalId: string, name: string, exitCode: number | undefined, command?: string): void {
    this.output.flush();
    const params: Record<string, unknown> = { terminalId, name };
    if (exitCode !== undefined) {
      params.exitCode = exitCode;
    }
    if (command) {
      params.command = command;
    }
    this.send("crowdcode/terminalCommandEnd", params);
  }

  flush(): void {
    this.selections.flush();
    this.visible.flush();
    this.output.flush();
  }

  dispose(): void {
    this.selections.dispose();
    this.visible.dispose();
    this.output.dispose();
    this.outputBuffers.clear();
  }

  private sendOutput(terminalId: string): void {
    const buffered = this.outputBuffers.get(terminalId) ?? "";
    if (!buffered) {
      return;
    }
    const chunk = buffered.slice(0, MAX_OUTPUT_CHUNK);
    const rest = buffered.slice(MAX_OUTPUT_CHUNK);
    this.send("crowdcode/terminalOutput", { terminalId, data: chunk });
    if (rest) {
      this.outputBuffers.set(terminalId, rest);
      this.output.push(terminalId, terminalId);
    } else {
      this.outputBuffers.delete(terminalId);
    }
  }
}
