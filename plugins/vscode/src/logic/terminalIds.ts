/** Stable ids for terminals ("terminal-1", …), as crowd-code names them; VS Code gives none. */
export class TerminalIds<T extends object> {
  private readonly ids = new WeakMap<T, string>();
  private next = 1;

  id(terminal: T): string {
    let id = this.ids.get(terminal);
    if (id === undefined) {
      id = `terminal-${this.next++}`;
      this.ids.set(terminal, id);
    }
    return id;
  }
}

/** What a terminal is shown as. `Terminal.name` can still be empty when VS Code reports the terminal
 * (before its shell has set a title), so the name it was created with, the shell's kind, the file
 * name of the shell it was created with, then of the default shell (`vscode.env.shell`) stand in. */
export interface TerminalLike {
  name: string;
  creationOptions?: { name?: string; shellPath?: string };
  state?: { isInteractedWith?: boolean; shell?: string };
}

export function terminalName(terminal: TerminalLike, defaultShell = ""): string {
  const shellPath = terminal.creationOptions?.shellPath || defaultShell;
  return (
    terminal.name ||
    terminal.creationOptions?.name ||
    terminal.state?.shell ||
    (shellPath ? shellPath.split(/[\\/]/).pop() : undefined) ||
    "terminal"
  );
}
